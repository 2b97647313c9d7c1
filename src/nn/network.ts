// Executes an ExecutionPlan (planner.ts): allocates the buffers and textures its nodes' variants name,
// once, for the largest batch, and records each batch size's dispatches by switching on those variants.
// It decides nothing: which kernel runs where is the plan's. Each batch size gets its own cached
// recording (kernels specialised by override constants), so an epoch's partial last batch is computed
// exactly, not padded.
import type { Gpu } from '../gpu/device.ts';
import { checkErrors } from '../gpu/device.ts';
import { createStorageBuffer, createUniformBuffer, writeBuffer } from '../gpu/buffers.ts';
import { compileTogether, type Dispatch, submitDispatches } from '../gpu/kernel.ts';
import { profileFor } from '../gpu/profile.ts';
import { MNIST_NORMALIZATION, type Normalization, normalize } from '../kernels/normalize.ts';
import {
  conv2dBackwardInput,
  type Conv2dBackwardInputTiles,
  conv2dBackwardWeight,
  type Conv2dBackwardWeightTiles,
  conv2dForward,
  type Conv2dForwardTiles,
} from '../kernels/conv2d.ts';
import {
  conv2dForwardTexture,
  type Conv2dPackedOperands,
  createConv2dPackedOperands,
  packConv2dTextureWeight,
} from '../kernels/conv2d_texture.ts';
import { conv2dForwardImplicitGemm } from '../kernels/conv2d_implicit_gemm.ts';
import {
  conv2dBackwardInputTiled,
  conv2dBackwardWeightTiled,
  conv2dForwardTiled,
} from '../kernels/conv2d_gemm_tiled.ts';
import type { GemmTiles } from '../kernels/gemm_tiles.ts';
import { linearBackwardInputTiled, linearBackwardWeightTiled, linearForwardTiled } from '../kernels/linear_tiled.ts';
import type { Conv2dTextureTiles, ImplicitGemmTiles } from '../kernels/conv2d_tiles.ts';
import {
  type ChannelsLastTexture,
  createChannelsLastTexture,
  createPackedMatrix,
  packChannelsLast,
  type PackedMatrix,
  packMatrix,
} from '../kernels/layout.ts';
import {
  linearBackwardInput,
  linearBackwardWeight,
  linearForward,
  type LinearForwardTextures,
  packLinearWeight,
} from '../kernels/linear.ts';
import type { MatmulTiles } from '../kernels/matmul.ts';
import { maxPool2dBackward, maxPool2dForward } from '../kernels/maxpool2d.ts';
import { reluBackward, reluForward } from '../kernels/relu.ts';
import { logSoftmax, lossStats, softmaxCrossEntropy } from '../kernels/softmax_cross_entropy.ts';
import { ADAM_UNIFORM_BYTES, type AdamOptions, adamStep } from '../kernels/adam.ts';
import { augmentAffine, type AugmentOptions } from '../kernels/augment.ts';
import { avgPool2dBackward, avgPool2dForward } from '../kernels/avgpool2d.ts';
import { batchNormBackward, batchNormForward, batchNormStats } from '../kernels/batchnorm.ts';
import { dropoutBackward, dropoutForward, RNG_UNIFORM_BYTES, rngUniforms } from '../kernels/dropout.ts';
import type { Conv2dShape } from '../util/shapes.ts';
import { ParameterLayout } from './parameters.ts';
import {
  avgPoolShape,
  batchNormShape,
  checkPlan,
  convShape,
  type ExecutionPlan,
  linearShape,
  planNetwork,
  type PlanNode,
  poolShape,
  tilesAt,
} from './planner.ts';
import { type ModelSpec, parameterSpecs, type ResolvedLayer, resolveLayers, shapeSize } from './spec.ts';

/** An activation tensor: its buffer and, when backward needs it, the buffer of its gradient. */
interface Value {
  shape: number[];
  buffer: GPUBuffer;
  grad: GPUBuffer | null;
}

/** One plan node as executed, with what its variant allocated. */
interface Node {
  plan: PlanNode;
  layer: ResolvedLayer;
  input: Value;
  output: Value;
  /** maxpool2d buffer variant: the index each window chose, for its backward. */
  argmax?: GPUBuffer;
  /** conv2d texture variants: its packed input and weights. */
  packedConv?: Conv2dPackedOperands;
  /** conv2d implicit-gemm: its channels-last input (written by a max-pool before it, or packed by itself) and weights. */
  channelsLast?: { input: ChannelsLastTexture; weight: ChannelsLastTexture };
  /** linear texture variant: its packed input and weights. */
  linearTextures?: LinearForwardTextures;
  /** linear weight gradient from textures: gradOutputᵀ and inputᵀ packed. */
  weightGradientTextures?: { gradOutputT: PackedMatrix; inputT: PackedMatrix };
  /** batch norm, training: the batch's mean and biased variance per channel. */
  batchStats?: GPUBuffer;
  /** dropout, training: each element's scale (1 / (1 - p) or 0), for the backward. */
  dropoutMask?: GPUBuffer;
}

/** A group of dispatches that computes one thing, with its arithmetic and memory cost (for profiles). */
export interface Op {
  name: string;
  flops: number;
  bytes: number;
  dispatches: Dispatch[];
}

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

  private readonly input: Value;
  private readonly nodes: Node[];
  private readonly logits: Value;
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

    this.input = { shape: [...model.input], buffer: f32('input', maxBatch * this.inputSize), grad: null };
    const random = training && (options.augment !== undefined || plan.nodes.some((n) => n.kind === 'dropout'));
    this.rng = random ? this.track(createUniformBuffer(gpu, 'rng.uniforms', RNG_UNIFORM_BYTES)) : null;
    this.nodes = [];
    let current = this.input;
    for (const planNode of plan.nodes) {
      const layer = this.layers[planNode.layer];
      const name = planNode.name;
      let output: Value;
      if (planNode.kind === 'flatten' || (planNode.kind === 'dropout' && !training)) {
        // Evaluation's dropout is the identity: its output is its input.
        output = { shape: layer.outShape, buffer: current.buffer, grad: current.grad };
      } else if (planNode.kind === 'relu') {
        // A standalone ReLU masks its gradient in place, so input and output share one gradient buffer.
        output = {
          shape: layer.outShape,
          buffer: f32(`relu${planNode.layer}.output`, maxBatch * shapeSize(layer.outShape)),
          grad: current.grad,
        };
      } else {
        const size = maxBatch * shapeSize(layer.outShape);
        output = {
          shape: layer.outShape,
          buffer: f32(`${name}.output`, size),
          grad: training ? f32(`${name}.output.grad`, size) : null,
        };
      }
      const node: Node = { plan: planNode, layer, input: current, output };
      this.allocateVariant(node, maxBatch, f32);
      this.nodes.push(node);
      current = output;
    }
    this.logits = current;
    if (!this.logits.grad) this.logits.grad = f32('logits.grad', maxBatch * model.classes);
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
    const plan = options.plan ??
      planNetwork(
        model,
        { training: options.training, maxBatch: options.maxBatch },
        profileFor(gpu, model.name, options.training, options.maxBatch),
      );
    const network = await checkErrors(
      gpu,
      `the buffers of model "${model.name}" at batch size ${options.maxBatch}`,
      () => new Network(gpu, model, options, plan),
    );
    if (plan.weights === 'per-upload') await compileTogether(gpu, () => network.recordWeightPacks());
    return network;
  }

  /** The buffers and textures the node's variants name. */
  private allocateVariant(node: Node, maxBatch: number, f32: (label: string, elements: number) => GPUBuffer): void {
    const { plan: p, layer } = node;
    const texture = <T extends { texture: GPUTexture }>(made: T): T => {
      this.textures.push(made.texture);
      return made;
    };
    if (p.kind === 'maxpool2d' && p.variant === 'buffer') {
      node.argmax = f32(`${p.name}.argmax`, maxBatch * shapeSize(layer.outShape));
    }
    if ((p.kind === 'batchnorm2d' || p.kind === 'batchnorm1d') && this.options.training) {
      node.batchStats = f32(`${p.name}.batch-stats`, 2 * layer.inShape[0]);
    }
    if (p.kind === 'dropout' && this.options.training) {
      node.dropoutMask = f32(`${p.name}.mask`, maxBatch * shapeSize(layer.outShape));
    }
    if (p.kind === 'conv2d' && (p.variant === 'texture' || p.variant === 'texture+pool')) {
      const packed = createConv2dPackedOperands(this.gpu, p.name, convShape(layer, maxBatch));
      this.textures.push(packed.input.texture, packed.weight.texture);
      node.packedConv = packed;
    }
    if (p.kind === 'conv2d' && p.variant === 'implicit-gemm') {
      const { inChannels, height, width, outChannels, kernelH, kernelW } = convShape(layer, maxBatch);
      node.channelsLast = {
        input: texture(
          createChannelsLastTexture(this.gpu, `${p.name}.input.channels-last`, maxBatch, inChannels, height, width),
        ),
        weight: texture(
          createChannelsLastTexture(
            this.gpu,
            `${p.name}.weight.channels-last`,
            outChannels,
            inChannels,
            kernelH,
            kernelW,
          ),
        ),
      };
    }
    if (p.kind === 'linear') {
      const { inFeatures: k, outFeatures: n } = linearShape(layer, maxBatch);
      const packed = (label: string, rows: number, length: number) =>
        texture(createPackedMatrix(this.gpu, `${p.name}.${label}`, rows, length));
      if (p.variant === 'texture') {
        node.linearTextures = {
          input: packed('input.packed', maxBatch, k),
          weight: packed('weight.packed', n, k),
          prepacked: { input: p.reads === 'packed', weight: this.executionPlan.weights === 'per-upload' },
        };
      }
      if (p.weightGradient === 'texture') {
        node.weightGradientTextures = {
          gradOutputT: packed('output.grad.packedT', n, maxBatch),
          inputT: packed('input.packedT', k, maxBatch),
        };
      }
    }
  }

  /** See weightPacks. */
  private async recordWeightPacks(): Promise<void> {
    const gpu = this.gpu;
    for (const node of this.nodes) {
      const weight = () => this.param(`${layerName(node.layer)}.weight`);
      if (node.linearTextures) {
        this.weightPacks.push(
          await packLinearWeight(gpu, linearShape(node.layer, 1), weight(), node.linearTextures.weight),
        );
      }
      if (node.packedConv) {
        this.weightPacks.push(await packConv2dTextureWeight(gpu, convShape(node.layer, 1), weight(), node.packedConv));
      }
      if (node.channelsLast) {
        const { outChannels: items, inChannels: channels, kernelH: height, kernelW: width } = convShape(node.layer, 1);
        this.weightPacks.push(
          await packChannelsLast(gpu, { items, channels, height, width }, weight(), node.channelsLast.weight),
        );
      }
    }
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
    const first = this.nodes[0];
    const augment = this.options.training ? this.options.augment : undefined;
    const norm = this.options.normalization ?? MNIST_NORMALIZATION;
    const forward: Op[] = [
      augment
        ? {
          name: 'augment (random affine) + normalize',
          flops: 40 * inputCount,
          bytes: 20 * inputCount,
          dispatches: await augmentAffine(
            gpu,
            { batch, channels, height, width },
            augment,
            this.rng!,
            this.pixels,
            this.input.buffer,
            norm,
          ),
        }
        : this.executionPlan.input === 'into-packed'
        ? {
          name: `normalize (into ${layerName(first.layer)}'s packed input)`,
          flops: 2 * inputCount,
          bytes: 17 * inputCount,
          dispatches: [
            await packMatrix(
              gpu,
              { rows: batch * channels * height, k: width, normalizePixels: { ...norm, plane: height * width } },
              this.pixels,
              first.packedConv!.input,
            ),
          ],
        }
        : {
          name: 'normalize',
          flops: 2 * inputCount,
          bytes: 5 * inputCount,
          dispatches: [
            await normalize(
              gpu,
              { count: inputCount, normalization: norm, plane: height * width },
              this.pixels,
              this.input.buffer,
            ),
          ],
        },
    ];
    for (let i = 0; i < this.nodes.length; i++) forward.push(...(await this.recordForward(i, batch)));
    const classes = this.model.classes;
    const lossShape = { batch, classes };
    const logits = batch * classes;
    const loss: Op[] = [
      {
        name: 'softmax_cross_entropy',
        flops: 6 * logits,
        bytes: 4 * (2 * logits + 3 * batch),
        dispatches: await softmaxCrossEntropy(
          gpu,
          lossShape,
          this.logits.buffer,
          this.labels,
          this.logits.grad!,
          this.sampleLoss,
          this.predictions,
          this.options.training ? this.options.labelSmoothing : 0,
        ),
      },
      {
        name: 'loss_stats',
        flops: 2 * batch,
        bytes: 12 * batch,
        dispatches: await lossStats(gpu, lossShape, this.sampleLoss, this.predictions, this.labels, this.stats),
      },
    ];
    const logProbabilities: Op[] = [{
      name: 'log_softmax',
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
      optimizer = [{
        name: 'adam',
        flops: 12 * n,
        bytes: 28 * n,
        dispatches: await adamStep(
          gpu,
          n,
          adam,
          this.adamUniforms!,
          this.params,
          this.grads!,
          this.adamM!,
          this.adamV!,
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

  /** A role's tiles to use instead of the plan's while recordRole records it. */
  private tileOverride: { node: string; role: string; tiles: Record<string, number> } | null = null;

  private tilesFor(node: PlanNode, batch: number): Record<string, Record<string, number>> {
    const tiles = tilesAt(this.model, this.executionPlan, node, batch);
    const o = this.tileOverride;
    return o && o.node === node.name ? { ...tiles, [o.role]: { ...tiles[o.role], ...o.tiles } } : tiles;
  }

  /** The roles (forward, backwardWeight, backwardInput) of each node whose tiles can be measured alone (for the tuner). */
  tunableRoles(): { node: string; variant: string; role: string; tiles: Record<string, number> }[] {
    const roles: { node: string; variant: string; role: string; tiles: Record<string, number> }[] = [];
    for (const { plan: p } of this.nodes) {
      for (const [role, tiles] of Object.entries(p.tiles)) {
        // A forward that writes a texture is measured with its consumer; leave it be.
        if (role === 'forward' && p.writes !== 'nchw') continue;
        roles.push({
          node: p.name,
          variant: role === 'backwardWeight' ? p.weightGradient ?? p.variant : p.variant,
          role,
          tiles,
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
    role: string,
    batch: number,
    tiles: Record<string, number>,
  ): Promise<{ dispatches: Dispatch[]; outputs: GPUBuffer[] }> {
    const i = this.nodes.findIndex((n) => n.plan.name === node);
    if (i < 0) throw new RangeError(`no node "${node}" in this network`);
    const n = this.nodes[i];
    this.tileOverride = { node, role, tiles };
    try {
      if (role === 'forward') {
        return { dispatches: dispatchesOf(await this.recordForward(i, batch)), outputs: [n.output.buffer] };
      }
      const ops = (await this.recordBackward(i, batch)).filter((op) =>
        op.name.includes(role === 'backwardWeight' ? 'backward weight' : 'backward input')
      );
      return { dispatches: dispatchesOf(ops), outputs: role === 'backwardWeight' ? [this.grads!] : [n.input.grad!] };
    } finally {
      this.tileOverride = null;
    }
  }

  /** GPU plans' reductions use subgroup operations where the device has them (never on a CPU driver). */
  private get subgroups(): boolean {
    const device = this.executionPlan.device;
    return device.kind !== 'cpu-driver' && device.features.includes('subgroups');
  }

  private param(name: string): GPUBufferBinding {
    return this.layout.binding(this.params, name);
  }

  private grad(name: string): GPUBufferBinding {
    return this.layout.binding(this.grads!, name);
  }

  /** The node that reads node i's output, through a flatten. */
  private consumerOf(i: number): Node | undefined {
    return this.nodes[i + 1]?.plan.kind === 'flatten' ? this.nodes[i + 2] : this.nodes[i + 1];
  }

  /** The node whose output node i reads, through a flatten. */
  private producerOf(i: number): Node | undefined {
    return this.nodes[i - 1]?.plan.kind === 'flatten' ? this.nodes[i - 2] : this.nodes[i - 1];
  }

  private async recordForward(i: number, batch: number): Promise<Op[]> {
    const { gpu } = this;
    const node = this.nodes[i];
    const { layer, input, output, plan: p } = node;
    const spec = layer.spec;
    const inCount = batch * shapeSize(layer.inShape);
    const outCount = batch * shapeSize(layer.outShape);
    const name = layerName(layer);
    const tiles = this.tilesFor(p, batch);
    switch (spec.kind) {
      case 'conv2d': {
        const shape = convShape(layer, batch);
        const weights = shapeSize(layer.params[0].shape);
        const args = [
          input.buffer,
          this.param(`${spec.name}.weight`),
          this.param(`${spec.name}.bias`),
          output.buffer,
        ] as const;
        const op = {
          name: `${name} forward${p.relu ? '+relu' : ''}`,
          flops: convFlops(shape, outCount),
          bytes: 4 * (inCount + weights + outCount),
        };
        switch (p.variant) {
          case 'texture':
          case 'texture+pool': {
            const pooled = p.variant === 'texture+pool' ? this.nodes[i + 2].channelsLast!.input : undefined;
            return [{
              ...op,
              name: pooled ? `${op.name}+maxpool2d (channels-last)` : op.name,
              dispatches: await conv2dForwardTexture(
                gpu,
                shape,
                {
                  relu: p.relu,
                  tiles: tiles.forward as unknown as Conv2dTextureTiles,
                  inputPrepacked: p.reads === 'packed',
                  weightPrepacked: this.executionPlan.weights === 'per-upload',
                  pooled,
                },
                ...args,
                node.packedConv!,
              ),
            }];
          }
          case 'implicit-gemm': {
            const cl = node.channelsLast!;
            const [channels, height, width] = layer.inShape;
            const packInput = p.reads === 'nchw'
              ? [await packChannelsLast(gpu, { items: batch, channels, height, width }, input.buffer, cl.input)]
              : [];
            return [{
              ...op,
              name: `${op.name} (implicit GEMM)`,
              dispatches: [
                ...packInput,
                await conv2dForwardImplicitGemm(
                  gpu,
                  shape,
                  { relu: p.relu, tiles: tiles.forward as unknown as ImplicitGemmTiles },
                  cl.input,
                  cl.weight,
                  args[2],
                  this.consumerOf(i)!.linearTextures!.input,
                ),
              ],
            }];
          }
          case 'tiled-gemm':
            return [{
              ...op,
              name: `${op.name} (tiled GEMM)`,
              dispatches: await conv2dForwardTiled(gpu, shape, {
                relu: p.relu,
                tiles: tiles.forward as unknown as GemmTiles,
              }, ...args),
            }];
          default:
            return [{
              ...op,
              dispatches: await conv2dForward(gpu, shape, {
                relu: p.relu,
                tiles: tiles.forward as unknown as Conv2dForwardTiles,
              }, ...args),
            }];
        }
        // Every conv2d variant has returned above.
      }
      // falls through
      case 'linear': {
        const shape = linearShape(layer, batch);
        const weights = shape.inFeatures * shape.outFeatures;
        const op = {
          name: `${name} forward${p.relu ? '+relu' : ''}`,
          flops: 2 * batch * weights,
          bytes: 4 * (inCount + weights + outCount),
        };
        const operands = [
          input.buffer,
          this.param(`${spec.name}.weight`),
          this.param(`${spec.name}.bias`),
          output.buffer,
        ] as const;
        if (p.variant === 'tiled') {
          return [{
            ...op,
            name: `${op.name} (tiled)`,
            dispatches: await linearForwardTiled(gpu, shape, {
              relu: p.relu,
              tiles: tiles.forward as unknown as GemmTiles,
            }, ...operands),
          }];
        }
        return [{
          ...op,
          dispatches: await linearForward(gpu, shape, {
            relu: p.relu,
            tiles: tiles.forward as unknown as MatmulTiles,
            packed: node.linearTextures,
          }, ...operands),
        }];
      }
      case 'maxpool2d': {
        const shape = poolShape(layer, batch);
        switch (p.variant) {
          case 'in-conv':
            return [];
          case 'channels-last':
            return [{
              name: `${name} forward (channels-last)`,
              flops: inCount,
              bytes: 4 * (inCount + outCount),
              dispatches: [
                await packChannelsLast(
                  gpu,
                  {
                    items: batch,
                    channels: shape.channels,
                    height: shape.height,
                    width: shape.width,
                    pool: shape.kernel,
                    stride: shape.stride,
                  },
                  input.buffer,
                  this.nodes[i + 1].channelsLast!.input,
                ),
              ],
            }];
          default:
            return [{
              name: `${name} forward`,
              flops: inCount,
              bytes: 4 * (inCount + 2 * outCount),
              dispatches: await maxPool2dForward(gpu, shape, input.buffer, output.buffer, node.argmax!),
            }];
        }
      }
      case 'relu':
        return [{
          name: `${name} forward`,
          flops: outCount,
          bytes: 8 * outCount,
          dispatches: await reluForward(gpu, outCount, input.buffer, output.buffer),
        }];
      case 'flatten':
        return [];
      case 'batchnorm2d':
      case 'batchnorm1d': {
        const shape = batchNormShape(layer, batch);
        const running = this.runningRange(spec.name);
        const ops: Op[] = [];
        let stats: GPUBufferBinding | GPUBuffer = running.binding;
        let variance = running.offsets.variance;
        if (node.batchStats) {
          ops.push({
            name: `${name} batch statistics`,
            flops: 3 * inCount,
            bytes: 8 * inCount,
            dispatches: await batchNormStats(
              gpu,
              shape,
              input.buffer,
              node.batchStats,
              this.runningRange(spec.name, true).binding,
              running.offsets,
            ),
          });
          stats = node.batchStats;
          variance = shape.channels;
        }
        ops.push({
          name: `${name} forward${p.relu ? '+relu' : ''}`,
          flops: 4 * inCount,
          bytes: 8 * inCount,
          dispatches: await batchNormForward(
            gpu,
            shape,
            { relu: p.relu, offsets: { variance } },
            input.buffer,
            stats,
            this.param(`${spec.name}.weight`),
            this.param(`${spec.name}.bias`),
            output.buffer,
          ),
        });
        return ops;
      }
      case 'dropout':
        if (!node.dropoutMask) return [];
        return [{
          name: `${name} forward`,
          flops: 50 * outCount,
          bytes: 12 * outCount,
          dispatches: await dropoutForward(
            gpu,
            outCount,
            { p: spec.p, salt: node.plan.layer },
            this.rng!,
            input.buffer,
            output.buffer,
            node.dropoutMask,
          ),
        }];
      case 'avgpool2d':
        return [{
          name: `${name} forward`,
          flops: inCount,
          bytes: 4 * (inCount + outCount),
          dispatches: await avgPool2dForward(gpu, avgPoolShape(layer, batch), input.buffer, output.buffer),
        }];
    }
  }

  /**
   * A batch norm's running_mean, running_var and num_batches_tracked as one range of the parameters
   * (WebGPU lets a dispatch write a buffer through one binding only), with the offsets inside it.
   */
  private runningRange(layer: string, whole = false) {
    const mean = this.layout.slot(`${layer}.running_mean`);
    const variance = this.layout.slot(`${layer}.running_var`);
    const count = this.layout.slot(`${layer}.num_batches_tracked`);
    const end = whole ? count.offset + 1 : variance.offset + variance.count;
    return {
      binding: { buffer: this.params, offset: mean.offset * 4, size: (end - mean.offset) * 4 },
      offsets: { variance: variance.offset - mean.offset, count: count.offset - mean.offset },
    };
  }

  private async recordBackward(i: number, batch: number): Promise<Op[]> {
    const { gpu } = this;
    const node = this.nodes[i];
    const { layer, input, output, plan: p } = node;
    const spec = layer.spec;
    const ops: Op[] = [];
    const gradOutput = output.grad;
    if (!gradOutput) return ops;
    const inCount = batch * shapeSize(layer.inShape);
    const outCount = batch * shapeSize(layer.outShape);
    const name = layerName(layer);
    const tiles = this.tilesFor(p, batch);
    // The ReLU that produced this node's input left its backward to this node.
    const reluMask = this.producerOf(i)?.plan.reluBackward === 'in-consumer' ? input.buffer : undefined;
    if (p.reluBackward === 'pass') {
      // A standalone ReLU shares its gradient buffer with its input: masking in place is its whole backward.
      ops.push({
        name: `${name} relu backward`,
        flops: outCount,
        bytes: 12 * outCount,
        dispatches: await reluBackward(gpu, outCount, output.buffer, gradOutput),
      });
    }
    switch (spec.kind) {
      case 'conv2d': {
        const shape = convShape(layer, batch);
        const weights = shapeSize(layer.params[0].shape);
        const tiled = p.variant === 'tiled-gemm';
        const gradWeight = this.grad(`${spec.name}.weight`);
        const gradBias = this.grad(`${spec.name}.bias`);
        ops.push({
          name: `${name} backward weight`,
          flops: convFlops(shape, outCount),
          bytes: 4 * (inCount + weights + outCount),
          dispatches: tiled
            ? await conv2dBackwardWeightTiled(gpu, shape, input.buffer, gradOutput, gradWeight, gradBias, {
              tiles: tiles.backwardWeight as unknown as GemmTiles,
              subgroups: this.subgroups,
            })
            : await conv2dBackwardWeight(
              gpu,
              shape,
              input.buffer,
              gradOutput,
              gradWeight,
              gradBias,
              tiles.backwardWeight as unknown as Conv2dBackwardWeightTiles,
            ),
        });
        if (input.grad) {
          const weight = this.param(`${spec.name}.weight`);
          ops.push({
            name: `${name} backward input`,
            flops: convFlops(shape, outCount),
            bytes: 4 * (inCount + weights + outCount),
            dispatches: tiled
              ? await conv2dBackwardInputTiled(
                gpu,
                shape,
                gradOutput,
                weight,
                input.grad,
                tiles.backwardInput as unknown as GemmTiles,
              )
              : await conv2dBackwardInput(
                gpu,
                shape,
                gradOutput,
                weight,
                input.grad,
                tiles.backwardInput as unknown as Conv2dBackwardInputTiles,
              ),
          });
        }
        break;
      }
      case 'linear': {
        const shape = linearShape(layer, batch);
        const weights = shape.inFeatures * shape.outFeatures;
        const flops = 2 * batch * weights;
        const gradWeight = this.grad(`${spec.name}.weight`);
        const gradBias = this.grad(`${spec.name}.bias`);
        ops.push({
          name: `${name} backward weight`,
          flops,
          bytes: 4 * (inCount + weights + outCount),
          dispatches: p.weightGradient === 'tiled'
            ? await linearBackwardWeightTiled(gpu, shape, input.buffer, gradOutput, gradWeight, gradBias, {
              tiles: tiles.backwardWeight as unknown as GemmTiles,
              subgroups: this.subgroups,
            })
            : await linearBackwardWeight(gpu, shape, input.buffer, gradOutput, gradWeight, gradBias, {
              packed: node.weightGradientTextures,
              tiles: tiles.backwardWeight as unknown as MatmulTiles,
            }),
        });
        if (input.grad) {
          const weight = this.param(`${spec.name}.weight`);
          ops.push({
            name: `${name} backward input${reluMask ? '+relu' : ''}`,
            flops,
            bytes: 4 * (inCount + weights + outCount),
            dispatches: p.variant === 'tiled'
              ? await linearBackwardInputTiled(gpu, shape, gradOutput, weight, input.grad, {
                reluOutput: reluMask,
                tiles: tiles.backwardInput as unknown as GemmTiles,
              })
              : await linearBackwardInput(gpu, shape, gradOutput, weight, input.grad, {
                reluOutput: reluMask,
                tiles: tiles.backwardInput as unknown as MatmulTiles,
              }),
          });
        }
        break;
      }
      case 'maxpool2d':
        if (input.grad) {
          ops.push({
            name: `${name} backward${reluMask ? '+relu' : ''}`,
            flops: inCount,
            bytes: 4 * (inCount + 2 * outCount),
            dispatches: await maxPool2dBackward(gpu, poolShape(layer, batch), gradOutput, node.argmax!, input.grad, {
              reluOutput: reluMask,
            }),
          });
        }
        break;
      case 'batchnorm2d':
      case 'batchnorm1d': {
        const shape = batchNormShape(layer, batch);
        const weight = this.layout.slot(`${spec.name}.weight`);
        const bias = this.layout.slot(`${spec.name}.bias`);
        const paramGrads = {
          buffer: this.grads!,
          offset: weight.offset * 4,
          size: (bias.offset + bias.count - weight.offset) * 4,
        };
        ops.push({
          name: `${name} backward`,
          flops: 8 * inCount,
          bytes: 16 * inCount,
          dispatches: await batchNormBackward(
            gpu,
            shape,
            bias.offset - weight.offset,
            input.buffer,
            gradOutput,
            node.batchStats!,
            this.param(`${spec.name}.weight`),
            paramGrads,
            input.grad ?? undefined,
          ),
        });
        break;
      }
      case 'dropout':
        if (input.grad) {
          ops.push({
            name: `${name} backward`,
            flops: outCount,
            bytes: 12 * outCount,
            dispatches: await dropoutBackward(gpu, outCount, gradOutput, node.dropoutMask!, input.grad),
          });
        }
        break;
      case 'avgpool2d':
        if (input.grad) {
          ops.push({
            name: `${name} backward`,
            flops: inCount,
            bytes: 4 * (inCount + outCount),
            dispatches: await avgPool2dBackward(gpu, avgPoolShape(layer, batch), gradOutput, input.grad),
          });
        }
        break;
      case 'relu':
      case 'flatten':
        break;
    }
    return ops;
  }
}

function layerName(layer: ResolvedLayer): string {
  return 'name' in layer.spec ? layer.spec.name : layer.spec.kind;
}

function convFlops(shape: Conv2dShape, outCount: number): number {
  return 2 * outCount * shape.inChannels * shape.kernelH * shape.kernelW;
}
