// Executes an ExecutionPlan (planner.ts): allocates each tensor between nodes once, for the largest
// batch, in the layout the plan gives it (a buffer, a packed matrix, a channels-last texture), and
// records each batch size's dispatches through the nodes' kinds (src/nn/layers/), which read and write
// those tensors. It decides nothing: which kernel runs where is the plan's. Each batch size gets its own cached
// recording (kernels specialised by override constants), so an epoch's partial last batch is computed
// exactly, not padded.
import type { Gpu } from '../gpu/device.ts';
import { checkErrors } from '../gpu/device.ts';
import { createStorageBuffer, createUniformBuffer, writeBuffer } from '../gpu/buffers.ts';
import { compileTogether, type Dispatch, submitDispatches } from '../gpu/kernel.ts';
import { profileFor, reportTunedRefusal } from '../gpu/profile.ts';
import { MNIST_NORMALIZATION, type Normalization, normalize } from '../kernels/normalize.ts';
import { createChannelsLastTexture, createPackedMatrix, packMatrix } from '../kernels/layout.ts';
import { reluBackward } from '../kernels/relu.ts';
import { logSoftmax, lossStats, softmaxCrossEntropy } from '../kernels/softmax_cross_entropy.ts';
import { ADAM_UNIFORM_BYTES, type AdamOptions, adamStep } from '../kernels/adam.ts';
import { augmentAffine, type AugmentOptions } from '../kernels/augment.ts';
import { RNG_UNIFORM_BYTES, rngUniforms } from '../kernels/dropout.ts';
import {
  layerDefinition,
  type NodeState,
  type Op,
  type OpRole,
  type RecordContext,
  type Tensor,
  type TileRole,
  type Value,
} from './layers/index.ts';
import { ParameterLayout } from './parameters.ts';
import {
  checkPlan,
  consumerIndex,
  type ExecutionPlan,
  nodeAt,
  planNetwork,
  producerIndex,
  type TileOverride,
  tilesByRole,
  weightGradientOf,
} from './planner.ts';
import { type ModelSpec, parameterSpecs, type ResolvedLayer, resolveLayers, shapeSize } from './spec.ts';

export type { Op, OpRole };

export interface StepPlan {
  batch: number;
  forward: Op[];
  /** Cross-entropy, its gradient, per-sample predictions and the batch's [loss sum, correct] stats. */
  loss: Op[];
  /** Per-row log-probabilities of the logits (for predict). */
  logProbabilities: Op[];
  backward: Op[];
  optimizer: Op[];
  /** All dispatches of a training step, in order (forward, loss, backward, optimizer). */
  trainingStep: Dispatch[];
  /** Forward and loss: what evaluation runs. */
  evaluationStep: Dispatch[];
}

/** The dispatches of some ops, in order. */
export const dispatchesOf = (...groups: Op[][]): Dispatch[] => groups.flat().flatMap((op) => op.dispatches);

export interface NetworkOptions {
  maxBatch: number;
  /** Allocate gradients and optimizer state and record backward + Adam. */
  training: boolean;
  adam?: Pick<AdamOptions, 'beta1' | 'beta2' | 'eps' | 'weightDecay' | 'decoupled'>;
  /** The plan to execute (for the same model, maxBatch and training); default: the planner's for this device. */
  plan?: ExecutionPlan;
  /** Training: augment every batch with random affine transforms (augment_affine.wgsl) instead of only normalizing it. */
  augment?: AugmentOptions;
  /** Cross-entropy's label smoothing (0: none). */
  labelSmoothing?: number;
  /** The input's per-channel mean and std (default: MNIST's constants, for one channel). */
  normalization?: Normalization;
}

export class Network {
  readonly layout: ParameterLayout;
  readonly layers: ResolvedLayer[];
  readonly inputSize: number;
  /** What this network executes. */
  readonly executionPlan: ExecutionPlan;
  /** uint8 pixels of a batch, packed four to a u32. */
  readonly pixels: GPUBuffer;
  readonly labels: GPUBuffer;
  readonly params: GPUBuffer;
  readonly grads: GPUBuffer | null;
  readonly adamM: GPUBuffer | null;
  readonly adamV: GPUBuffer | null;
  readonly adamUniforms: GPUBuffer | null;
  readonly sampleLoss: GPUBuffer;
  readonly predictions: GPUBuffer;
  readonly logProbs: GPUBuffer;
  /** Two u32 words: bitcast f32 loss sum of the batch, correct count. */
  readonly stats: GPUBuffer;
  /** Seed and step for dropout and augmentation (setStep); null when the network draws no random numbers. */
  readonly rng: GPUBuffer | null;
  readonly bytesAllocated: number;

  private readonly input: Tensor;
  private readonly nodes: NodeState[];
  private readonly logits: Value;
  /** The loss's gradient of the logits (the last node's output gradient when training). */
  private readonly logitsGrad: GPUBuffer;
  private readonly plans = new Map<number, Promise<StepPlan>>();
  private readonly buffers: GPUBuffer[] = [];
  private readonly textures: GPUTexture[] = [];
  /** Packing of texture variants' weights, run after every upload when the plan packs them per upload. */
  private readonly weightPacks: Dispatch[] = [];

  private constructor(
    private readonly gpu: Gpu,
    readonly model: ModelSpec,
    readonly options: NetworkOptions,
    plan: ExecutionPlan,
  ) {
    const { maxBatch, training } = options;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`batch size must be >= 1, got ${maxBatch}`);
    if (plan.maxBatch !== maxBatch || plan.training !== training) {
      throw new RangeError(
        `the plan is for ${plan.training ? 'training' : 'forward-only'} at batch ${plan.maxBatch}, the network ` +
          `${training ? 'trains' : 'is forward-only'} at batch ${maxBatch}`,
      );
    }
    checkPlan(model, plan);
    this.executionPlan = plan;
    this.layers = resolveLayers(model);
    this.layout = new ParameterLayout(parameterSpecs(model));
    this.inputSize = shapeSize(model.input);
    const f32 = (label: string, elements: number) => this.track(createStorageBuffer(gpu, label, elements * 4));
    const flat = this.layout.totalElements;

    this.pixels = this.track(createStorageBuffer(gpu, 'pixels', maxBatch * this.inputSize));
    this.labels = f32('labels', maxBatch);
    this.params = f32('parameters', flat);
    this.grads = training ? f32('gradients', flat) : null;
    this.adamM = training ? f32('adam.m', flat) : null;
    this.adamV = training ? f32('adam.v', flat) : null;
    this.adamUniforms = training ? this.track(createUniformBuffer(gpu, 'adam.uniforms', ADAM_UNIFORM_BYTES)) : null;

    const textures = {
      // A packed tensor is stored in the matrix shape its reader multiplies: the node reading it through views.
      packed: (label: string, shape: number[], reader: number): Tensor => {
        const readerNode = plan.nodes[reader];
        const matrix = readerNode && layerDefinition(readerNode.kind).kernels.packedInput?.(
          this.layers[readerNode.layer],
          maxBatch,
        );
        if (!matrix) throw new Error(`${label}: no node after it reads a packed matrix`);
        const { rows, k, paged } = matrix;
        return {
          layout: 'packed',
          shape,
          matrix: this.trackTexture(createPackedMatrix(gpu, label, rows, k, { paged })),
        };
      },
      channelsLast: (label: string, shape: number[]): Tensor => {
        const [channels, height, width] = shape;
        const texture = createChannelsLastTexture(gpu, label, maxBatch, channels, height, width);
        return { layout: 'channels-last', shape, texture: this.trackTexture(texture) };
      },
    };
    this.input = plan.input === 'into-packed'
      ? textures.packed('input.packed', [...model.input], 0)
      : { layout: 'nchw', shape: [...model.input], buffer: f32('input', maxBatch * this.inputSize), grad: null };
    const random = training && (options.augment !== undefined || plan.nodes.some((n) => n.kind === 'dropout'));
    this.rng = random ? this.track(createUniformBuffer(gpu, 'rng.uniforms', RNG_UNIFORM_BYTES)) : null;
    this.nodes = [];
    let current = this.input;
    const allocate = {
      gpu,
      maxBatch,
      training,
      weightsPerUpload: plan.weights === 'per-upload',
      f32,
      texture: <T extends { texture: GPUTexture }>(made: T): T => this.trackTexture(made),
    };
    /** The output of a node whose work the node before did (that node wrote it). */
    let handedOn: Tensor | undefined;
    plan.nodes.forEach((planNode, i) => {
      const layer = this.layers[planNode.layer];
      const name = planNode.name;
      const size = maxBatch * shapeSize(layer.outShape);
      const kernels = layerDefinition(planNode.kind).kernels;
      const next = plan.nodes[i + 1];
      let input = current;
      let output: Tensor;
      if (handedOn) {
        [input, output, handedOn] = [{ layout: 'none', shape: current.shape }, handedOn, undefined];
      } else if (next?.reads === 'none') {
        // The next node's work is done by this one: this node writes the next one's output.
        const nextShape = this.layers[next.layer].outShape;
        handedOn = output = next.writes === 'packed'
          ? textures.packed(`${next.name}.output.packed`, nextShape, consumerIndex(plan.nodes, i + 1))
          : textures.channelsLast(`${next.name}.output.channels-last`, nextShape);
      } else if (kernels.output(training) === 'input') {
        output = { ...current, shape: layer.outShape };
      } else if (planNode.writes === 'packed') {
        output = textures.packed(`${name}.output.packed`, layer.outShape, consumerIndex(plan.nodes, i));
      } else if (planNode.writes === 'channels-last') {
        output = textures.channelsLast(`${name}.output.channels-last`, layer.outShape);
      } else {
        const sharedGradient = kernels.output(training) === 'own-buffer-shared-gradient';
        if (sharedGradient && current.layout !== 'nchw') {
          throw new Error(`${name} reads ${current.layout}, not a buffer`);
        }
        output = {
          layout: 'nchw',
          shape: layer.outShape,
          buffer: f32(`${name}.output`, size),
          grad: sharedGradient && current.layout === 'nchw'
            ? current.grad
            : training
            ? f32(`${name}.output.grad`, size)
            : null,
        };
      }
      const node: NodeState = { plan: planNode, layer, input, output };
      Object.assign(node, kernels.allocate(node, allocate));
      this.nodes.push(node);
      current = output;
    });
    if (current.layout !== 'nchw') {
      throw new Error(`the last node of ${model.name} writes ${current.layout}, not logits`);
    }
    this.logits = current;
    this.logitsGrad = current.grad ?? f32('logits.grad', maxBatch * model.classes);
    this.sampleLoss = f32('sample.loss', maxBatch);
    this.predictions = f32('predictions', maxBatch);
    this.logProbs = f32('log.probabilities', maxBatch * model.classes);
    this.stats = f32('batch.stats', 2);
    this.bytesAllocated = this.buffers.reduce((sum, b) => sum + b.size, 0) +
      this.textures.reduce((sum, t) => sum + 16 * t.width * t.height, 0);
  }

  static async create(gpu: Gpu, model: ModelSpec, options: NetworkOptions): Promise<Network> {
    if (options.normalization && options.normalization.mean.length !== model.input[0]) {
      throw new RangeError(
        `${model.name} takes ${
          model.input[0]
        } input channels; the normalization has ${options.normalization.mean.length}`,
      );
    }
    if (options.plan) return await Network.createWithPlan(gpu, model, options, options.plan);
    const shape = { training: options.training, maxBatch: options.maxBatch };
    const profile = profileFor(gpu, model.name, options.training, options.maxBatch);
    if (!profile.tuned) return await Network.createWithPlan(gpu, model, options, planNetwork(model, shape, profile));
    // Tuned tiles come from a file (the tune cache): build the first step's plan now, so that tiles a
    // kernel refuses (legal field by field, not together) fall back to the profile's defaults here.
    try {
      return await Network.createBuilt(gpu, model, options, planNetwork(model, shape, profile));
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      const { tuned: _, ...defaults } = profile;
      // The defaults must build too, or the problem was not the tiles (and that error is the one to see).
      const fallback = await Network.createBuilt(gpu, model, options, planNetwork(model, shape, defaults));
      reportTunedRefusal(gpu, { model: model.name, ...shape }, err.message);
      return fallback;
    }
  }

  /** A network with its maxBatch step already built; nothing is left allocated if that fails. */
  private static async createBuilt(
    gpu: Gpu,
    model: ModelSpec,
    options: NetworkOptions,
    plan: ExecutionPlan,
  ): Promise<Network> {
    const network = await Network.createWithPlan(gpu, model, options, plan);
    try {
      await network.plan(options.maxBatch);
    } catch (err) {
      network.destroy();
      throw err;
    }
    return network;
  }

  private static async createWithPlan(
    gpu: Gpu,
    model: ModelSpec,
    options: NetworkOptions,
    plan: ExecutionPlan,
  ): Promise<Network> {
    const network = await checkErrors(
      gpu,
      `the buffers of model "${model.name}" at batch size ${options.maxBatch}`,
      () => new Network(gpu, model, options, plan),
    );
    if (plan.weights === 'per-upload') await compileTogether(gpu, () => network.recordWeightPacks());
    return network;
  }

  /** See weightPacks. */
  private async recordWeightPacks(): Promise<void> {
    for (const [i, node] of this.nodes.entries()) {
      const pack = layerDefinition(node.plan.kind).kernels.packWeights;
      if (pack) this.weightPacks.push(...(await pack(node, this.recordContext(i, 1))));
    }
  }

  private trackTexture<T extends { texture: GPUTexture }>(made: T): T {
    this.textures.push(made.texture);
    return made;
  }

  private track(buffer: GPUBuffer): GPUBuffer {
    this.buffers.push(buffer);
    return buffer;
  }

  destroy(): void {
    for (const buffer of this.buffers) buffer.destroy();
    for (const texture of this.textures) texture.destroy();
    this.buffers.length = 0;
    this.textures.length = 0;
  }

  /** Uploads a flat parameter array (layout order, padding included) and resets Adam's state. */
  setParameters(flat: Float32Array, adam?: { m: Float32Array; v: Float32Array }): void {
    if (flat.length !== this.layout.totalElements) {
      throw new Error(`expected ${this.layout.totalElements} parameter values, got ${flat.length}`);
    }
    writeBuffer(this.gpu, this.params, flat);
    if (this.weightPacks.length > 0) submitDispatches(this.gpu, this.weightPacks, 'weight packing');
    if (this.adamM && this.adamV) {
      const zeros = new Float32Array(this.layout.totalElements);
      writeBuffer(this.gpu, this.adamM, adam?.m ?? zeros);
      writeBuffer(this.gpu, this.adamV, adam?.v ?? zeros);
    }
  }

  /** Sets the seed and step dropout masks and augmentations are drawn from (before each training step). */
  setStep(seed: number, step: number): void {
    if (this.rng) writeBuffer(this.gpu, this.rng, rngUniforms(seed, step));
  }

  /** Uploads a batch: `pixels` holds batch*inputSize bytes, `labels` one class per sample. */
  writeBatch(pixels: Uint8Array, labels: Uint32Array): void {
    writeBuffer(this.gpu, this.pixels, pixels);
    writeBuffer(this.gpu, this.labels, labels);
  }

  plan(batch: number): Promise<StepPlan> {
    if (!Number.isInteger(batch) || batch < 1 || batch > this.options.maxBatch) {
      throw new RangeError(`batch ${batch} outside 1..${this.options.maxBatch}`);
    }
    let plan = this.plans.get(batch);
    if (!plan) {
      // Every pipeline of the plan compiles at once, not one after another.
      plan = compileTogether(this.gpu, () => this.buildPlan(batch));
      this.plans.set(batch, plan);
    }
    return plan;
  }

  private async buildPlan(batch: number): Promise<StepPlan> {
    const gpu = this.gpu;
    const layout = this.layout;
    const inputCount = batch * this.inputSize;
    const [channels, height, width] = this.model.input;
    const augment = this.options.training ? this.options.augment : undefined;
    const norm = this.options.normalization ?? MNIST_NORMALIZATION;
    const input = this.input;
    const forward: Op[] = [];
    if (input.layout === 'packed') {
      // Its reader's matrix at maxBatch, cut to this batch's rows.
      const { matrix } = input;
      forward.push({
        name: `normalize (into ${this.nodes[0].layer.name}'s packed input)`,
        role: 'input',
        flops: 2 * inputCount,
        bytes: 17 * inputCount,
        dispatches: [
          await packMatrix(
            gpu,
            {
              rows: (matrix.rows / this.options.maxBatch) * batch,
              k: matrix.k,
              normalizePixels: { ...norm, plane: height * width },
            },
            this.pixels,
            matrix,
          ),
        ],
      });
    } else if (input.layout !== 'nchw') {
      throw new Error(`the network's input cannot be ${input.layout}`);
    } else if (augment) {
      if (!this.rng) throw new Error('augmentation needs the random-number uniforms');
      forward.push({
        name: 'augment (random affine) + normalize',
        role: 'input',
        flops: 40 * inputCount,
        bytes: 20 * inputCount,
        dispatches: await augmentAffine(
          gpu,
          { batch, channels, height, width },
          augment,
          this.rng,
          this.pixels,
          input.buffer,
          norm,
        ),
      });
    } else {
      forward.push({
        name: 'normalize',
        role: 'input',
        flops: 2 * inputCount,
        bytes: 5 * inputCount,
        dispatches: [
          await normalize(
            gpu,
            { count: inputCount, normalization: norm, plane: height * width },
            this.pixels,
            input.buffer,
          ),
        ],
      });
    }
    for (let i = 0; i < this.nodes.length; i++) forward.push(...(await this.recordForward(i, batch)));
    const classes = this.model.classes;
    const lossShape = { batch, classes };
    const logits = batch * classes;
    const loss: Op[] = [
      {
        name: 'softmax_cross_entropy',
        role: 'loss',
        flops: 6 * logits,
        bytes: 4 * (2 * logits + 3 * batch),
        dispatches: await softmaxCrossEntropy(
          gpu,
          lossShape,
          this.logits.buffer,
          this.labels,
          this.logitsGrad,
          this.sampleLoss,
          this.predictions,
          this.options.training ? this.options.labelSmoothing : 0,
        ),
      },
      {
        name: 'loss_stats',
        role: 'loss',
        flops: 2 * batch,
        bytes: 12 * batch,
        dispatches: await lossStats(gpu, lossShape, this.sampleLoss, this.predictions, this.labels, this.stats),
      },
    ];
    const logProbabilities: Op[] = [{
      name: 'log_softmax',
      role: 'loss',
      flops: 4 * logits,
      bytes: 8 * logits,
      dispatches: await logSoftmax(gpu, lossShape, this.logits.buffer, this.logProbs),
    }];
    const backward: Op[] = [];
    let optimizer: Op[] = [];
    if (this.options.training) {
      for (let i = this.nodes.length - 1; i >= 0; i--) backward.push(...(await this.recordBackward(i, batch)));
      const adam = this.options.adam ?? { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
      // Buffers (running statistics) follow the trainable tensors and are left out.
      const n = layout.trainableElements;
      const { adamUniforms, grads, adamM, adamV } = this;
      if (!adamUniforms || !grads || !adamM || !adamV) throw new Error('a training network without optimizer state');
      optimizer = [{
        name: 'adam',
        role: 'optimizer',
        flops: 12 * n,
        bytes: 28 * n,
        dispatches: await adamStep(
          gpu,
          n,
          adam,
          adamUniforms,
          this.params,
          grads,
          adamM,
          adamV,
        ),
      }];
    }
    return {
      batch,
      forward,
      loss,
      logProbabilities,
      backward,
      optimizer,
      trainingStep: dispatchesOf(forward, loss, backward, optimizer),
      evaluationStep: dispatchesOf(forward, loss),
    };
  }

  /** Node i as its kernels record it at `batch`: the plan's node with its tiles at that batch, `candidate` over one role's. */
  private stateAt(i: number, batch: number, candidate?: TileOverride): NodeState {
    const node = this.nodes[i];
    return { ...node, plan: nodeAt(this.model, this.executionPlan, node.plan, batch, candidate) };
  }

  /** The roles (forward, backwardWeight, backwardInput) of each node whose tiles can be measured alone (for the tuner). */
  tunableRoles(): { node: string; variant: string; role: TileRole; tiles: Record<string, number> }[] {
    const roles: { node: string; variant: string; role: TileRole; tiles: Record<string, number> }[] = [];
    for (const { plan: p } of this.nodes) {
      for (const { role, values } of tilesByRole(p)) {
        // A forward that writes a texture is measured with its consumer; leave it be.
        if (role === 'forward' && p.writes !== 'nchw') continue;
        const weightGradient = weightGradientOf(p);
        roles.push({
          node: p.name,
          variant: role === 'backwardWeight' ? weightGradient ?? p.variant : p.variant,
          role,
          tiles: values,
        });
      }
    }
    return roles;
  }

  /**
   * The dispatches of one role of one node at `batch`, with `tiles` in place of the plan's, and the
   * buffers that role writes (its output, the gradients, or its input's gradient). Run the whole step
   * first so that its inputs hold real values. For the tuner (src/tune/tuner.ts).
   */
  async recordRole(
    node: string,
    role: TileRole,
    batch: number,
    tiles: Record<string, number>,
  ): Promise<{ dispatches: Dispatch[]; outputs: GPUBuffer[] }> {
    const i = this.nodes.findIndex((n) => n.plan.name === node);
    if (i < 0) throw new RangeError(`no node "${node}" in this network`);
    const n = this.nodes[i];
    const candidate = { role, tiles };
    if (role === 'forward') {
      if (n.output.layout !== 'nchw') {
        throw new RangeError(`node "${node}" writes ${n.output.layout}: tune it with its consumer`);
      }
      return { dispatches: dispatchesOf(await this.recordForward(i, batch, candidate)), outputs: [n.output.buffer] };
    }
    const ops = (await this.recordBackward(i, batch, candidate)).filter((op) => op.role === role);
    const written = role === 'backwardWeight' ? this.grads : n.input.layout === 'nchw' ? n.input.grad : null;
    if (!written) throw new RangeError(`node "${node}" has no ${role} in this network`);
    return { dispatches: dispatchesOf(ops), outputs: [written] };
  }

  /** What node i's kernels record with at `batch`: the parameters, its neighbours. */
  private recordContext(
    i: number,
    batch: number,
  ): RecordContext {
    const node = this.nodes[i];
    const device = this.executionPlan.device;
    const planNodes = this.executionPlan.nodes;
    const producer = this.nodes[producerIndex(planNodes, i)];
    const grads = this.grads;
    return {
      gpu: this.gpu,
      batch,
      training: this.options.training,
      weightsPerUpload: this.executionPlan.weights === 'per-upload',
      // GPU plans' reductions use subgroup operations where the device has them (never on a CPU driver).
      subgroups: device.kind !== 'cpu-driver' && device.features.includes('subgroups'),
      deviceKind: device.kind,
      layout: this.layout,
      params: this.params,
      grads,
      rng: this.rng,
      param: (name) => this.layout.binding(this.params, name),
      grad: (name) => {
        if (!grads) throw new Error(`${node.plan.name}: a forward-only network has no gradient of ${name}`);
        return this.layout.binding(grads, name);
      },
      // The ReLU that produced this node's input left its backward to this node.
      reluMask: producer?.plan.reluBackward === 'in-consumer' && node.input.layout === 'nchw'
        ? node.input.buffer
        : undefined,
    };
  }

  private recordForward(
    i: number,
    batch: number,
    candidate?: TileOverride,
  ): Promise<Op[]> {
    const node = this.stateAt(i, batch, candidate);
    return layerDefinition(node.plan.kind).kernels.forward(node, this.recordContext(i, batch));
  }

  private async recordBackward(
    i: number,
    batch: number,
    candidate?: TileOverride,
  ): Promise<Op[]> {
    const node = this.stateAt(i, batch, candidate);
    const { layer, output, plan: p } = node;
    const ops: Op[] = [];
    // Backward runs on buffers only (checkPlan: training writes every output as one).
    if (output.layout !== 'nchw' || !output.grad) return ops;
    if (p.reluBackward === 'pass') {
      // A standalone ReLU shares its gradient buffer with its input: masking in place is its whole backward.
      const outCount = batch * shapeSize(layer.outShape);
      ops.push({
        name: `${layer.name} relu backward`,
        role: 'reluBackward',
        flops: outCount,
        bytes: 12 * outCount,
        dispatches: await reluBackward(this.gpu, outCount, output.buffer, output.grad),
      });
    }
    ops.push(...(await layerDefinition(p.kind).kernels.backward(node, this.recordContext(i, batch))));
    return ops;
  }
}
