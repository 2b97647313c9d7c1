// A model description turned into GPU buffers and recorded kernels. Buffers are allocated once, for
// the largest batch; each batch size gets its own cached plan (kernels specialised by override
// constants), so the partial last batch of an epoch is computed exactly, not padded.
import type { Gpu } from '../gpu/device.ts';
import { checkErrors } from '../gpu/device.ts';
import { createStorageBuffer, createUniformBuffer, writeBuffer } from '../gpu/buffers.ts';
import { submitDispatches, type Dispatch } from '../gpu/kernel.ts';
import { MNIST_MEAN, MNIST_STD, normalize } from '../kernels/normalize.ts';
import {
  conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, conv2dForwardTexture, conv2dTexturePoolSuits, conv2dTextureSuits,
  createConv2dPackedOperands, packConv2dTextureWeight, type Conv2dPackedOperands, type Conv2dShape,
} from '../kernels/conv2d.ts';
import {
  conv2dForwardImplicitGemm, createChannelsLastTexture, implicitGemmSuits, packChannelsLast, type ChannelsLastTexture,
} from '../kernels/conv2d_implicit_gemm.ts';
import {
  linearBackwardInput, linearBackwardWeight, linearForward, packLinearWeight, type LinearForwardTextures, type LinearShape,
} from '../kernels/linear.ts';
import { createPackedMatrix, packFits, packMatrix, type PackedMatrix } from '../kernels/matmul_texture.ts';
import { maxPool2dBackward, maxPool2dForward, type MaxPool2dShape } from '../kernels/maxpool2d.ts';
import { reluBackward, reluForward } from '../kernels/relu.ts';
import { logSoftmax, lossStats, softmaxCrossEntropy } from '../kernels/softmax_cross_entropy.ts';
import { ADAM_UNIFORM_BYTES, adamStep, type AdamOptions } from '../kernels/adam.ts';
import { ParameterLayout } from './parameters.ts';
import { parameterSpecs, resolveLayers, shapeSize, type ModelSpec, type ResolvedLayer } from './spec.ts';

/** An activation tensor: its buffer and, when backward needs it, the buffer of its gradient. */
interface Value {
  shape: number[];
  buffer: GPUBuffer;
  grad: GPUBuffer | null;
  /** The buffer holds a ReLU's output (of a fused conv2d/linear + ReLU or a standalone ReLU). */
  reluOutput?: boolean;
}

/** One layer as executed: conv2d and linear absorb a following ReLU. */
interface Node {
  layer: ResolvedLayer;
  relu: boolean;
  input: Value;
  output: Value;
  argmax?: GPUBuffer;
}

/**
 * A forward-only network's conv layer computed as an implicit GEMM from textures
 * (src/kernels/conv2d_implicit_gemm.ts) straight into the packed input of the linear layer after it.
 */
interface ImplicitGemmConv {
  /** Its input, channels-last: written by the max-pool before it (`pooledBy`), or packed by the conv itself. */
  input: ChannelsLastTexture;
  pooledBy: Node | null;
  weight: ChannelsLastTexture;
  /** The packed input of the linear layer it feeds. */
  output: PackedMatrix;
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
  adam?: Pick<AdamOptions, 'beta1' | 'beta2' | 'eps' | 'weightDecay'>;
  /**
   * Run big linear layers' products from textures (src/kernels/matmul_texture.ts), about twice as fast
   * on lavapipe as from buffers, but the operands are packed into textures first, on every pass.
   * `forward` packs the weights each time, which pays at evaluation's big batches: on by default for
   * forward-only networks of at least PACKED_FORWARD_MIN_BATCH (packing fc1's weights takes ~4 ms,
   * what the faster product saves on ~60 images). `weightGradient` packs the output gradient and the
   * input (no weights): on by default for training, where fc1's weight gradient then takes 4.5-7 ms
   * instead of 7.4-12 (profile) and a step gained -5 to +17 % (bench/run.ts A/B, 8 pairs over both
   * runtimes on a VM whose speed drifts; +8-17 % in the later, steadier pairs).
   */
  packedLinear?: { forward?: boolean; weightGradient?: boolean };
  /**
   * Run convolutions with kernels 4 to 8 wide (conv1's 5x5) forward from textures
   * (shaders/conv2d_forward_texture.wgsl; input packed on every pass): conv1 at batch 1000 took 18-20 ms
   * instead of 25-27, packing included (A/B in one process; evaluation +5-7 %). Bit-identical to the
   * buffer kernel. Default: as packedLinear.forward.
   */
  packedConv?: boolean;
  /**
   * Forward-only networks only: run a convolution whose output feeds a linear layer run from textures
   * (conv2, through flatten) as an implicit GEMM (src/kernels/conv2d_implicit_gemm.ts) that writes that
   * layer's packed input, from its own input packed channels-last by the max-pool before it. conv2 at
   * batch 1000 took 13-20 ms instead of 24-28, and the max-pool's argmax and fc1's input packing no
   * longer run. It sums in another order than the buffer kernel, so it agrees to rounding, not bit for
   * bit. Default: as packedConv.
   */
  implicitGemmConv?: boolean;
}

/** A linear layer is run from textures when its product is at least this big in both k and n. */
const PACKED_LINEAR_MIN_FEATURES = 64;
/** Forward-only networks for smaller batches than this keep the buffer product (see packedLinear). */
const PACKED_FORWARD_MIN_BATCH = 128;

export class Network {
  readonly layout: ParameterLayout;
  readonly layers: ResolvedLayer[];
  readonly inputSize: number;
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
  readonly bytesAllocated: number;

  private readonly input: Value;
  private readonly nodes: Node[];
  private readonly logits: Value;
  private readonly plans = new Map<number, Promise<StepPlan>>();
  private readonly buffers: GPUBuffer[] = [];
  private readonly textures: GPUTexture[] = [];
  /** ReLU outputs whose backward the next layer's backward applies (see the constructor). */
  private readonly reluBackwardByConsumer = new Set<GPUBuffer>();
  /** Textures of the linear layers whose products run from them (see NetworkOptions.packedLinear). */
  private readonly packedForward = new Map<Node, LinearForwardTextures>();
  private readonly packedWeightGradient = new Map<Node, { gradOutputT: PackedMatrix; inputT: PackedMatrix }>();
  private readonly packedConv = new Map<Node, Conv2dPackedOperands>();
  private readonly implicitGemm = new Map<Node, ImplicitGemmConv>();
  /** Max-pools that write the next convolution's channels-last input instead of their output buffer. */
  private readonly poolsToTexture = new Map<Node, ChannelsLastTexture>();
  /** Texture convolutions that do such a max-pool's work themselves, and the max-pools that then run nothing. */
  private readonly convPoolsInto = new Map<Node, ChannelsLastTexture>();
  private readonly poolsDoneByConv = new Set<Node>();
  /**
   * Forward-only networks pack their weights into textures once per upload (setParameters), not on
   * every pass; training networks, whose weights move every step, pack in the forward pass.
   */
  private readonly weightPacks: Dispatch[] = [];
  /**
   * A forward-only network's first layer, when it is a texture convolution: its packed input is
   * normalized straight from the pixels (training keeps the normalized input for conv1's backward).
   */
  private readonly pixelsPackedFor: Node | null;

  private constructor(
    private readonly gpu: Gpu,
    readonly model: ModelSpec,
    readonly options: NetworkOptions,
  ) {
    const { maxBatch, training } = options;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`batch size must be >= 1, got ${maxBatch}`);
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
    this.nodes = [];
    const bigForward = !training && maxBatch >= PACKED_FORWARD_MIN_BATCH;
    let current = this.input;
    for (let i = 0; i < this.layers.length; i++) {
      const layer = this.layers[i];
      const kind = layer.spec.kind;
      const fusesRelu = (kind === 'conv2d' || kind === 'linear') && this.layers[i + 1]?.spec.kind === 'relu';
      const name = 'name' in layer.spec ? layer.spec.name : `${kind}${i}`;
      let output: Value;
      if (kind === 'flatten') {
        output = { shape: layer.outShape, buffer: current.buffer, grad: current.grad, reluOutput: current.reluOutput };
      } else if (kind === 'relu') {
        // A standalone ReLU masks its gradient in place, so input and output share one gradient buffer.
        output = { shape: layer.outShape, buffer: f32(`relu${i}.output`, maxBatch * shapeSize(layer.outShape)), grad: current.grad,
          reluOutput: true };
      } else {
        const size = maxBatch * shapeSize(layer.outShape);
        output = {
          shape: layer.outShape,
          buffer: f32(`${name}.output`, size),
          grad: training ? f32(`${name}.output.grad`, size) : null,
          reluOutput: fusesRelu,
        };
      }
      const node: Node = { layer, relu: fusesRelu, input: current, output };
      // Linear backward (its gradient w.r.t. input) and max-pool backward can apply the backward of the
      // ReLU that produced their input as they write, saving that ReLU a pass over the gradient.
      if ((kind === 'linear' || kind === 'maxpool2d') && current.reluOutput && current.grad) {
        this.reluBackwardByConsumer.add(current.buffer);
      }
      if (kind === 'maxpool2d') node.argmax = f32(`${name}.argmax`, maxBatch * shapeSize(layer.outShape));
      const fullConv = kind === 'conv2d' ? convShape(layer, maxBatch) : null;
      if (fullConv && (options.packedConv ?? bigForward) && conv2dTextureSuits(fullConv)) {
        const packed = createConv2dPackedOperands(gpu, name, fullConv);
        this.textures.push(packed.input.texture, packed.weight.texture);
        this.packedConv.set(node, packed);
      }
      if (kind === 'linear') {
        const k = shapeSize(layer.inShape);
        const n = shapeSize(layer.outShape);
        const big = Math.min(k, n) >= PACKED_LINEAR_MIN_FEATURES && packFits(gpu, Math.max(maxBatch, n, k), Math.max(k, maxBatch));
        const texture = (label: string, rows: number, length: number) => {
          const packed = createPackedMatrix(gpu, `${name}.${label}`, rows, length);
          this.textures.push(packed.texture);
          return packed;
        };
        if (big && (options.packedLinear?.forward ?? bigForward)) {
          this.packedForward.set(node, { input: texture('input.packed', maxBatch, k), weight: texture('weight.packed', n, k) });
        }
        if (big && training && (options.packedLinear?.weightGradient ?? true)) {
          this.packedWeightGradient.set(node, {
            gradOutputT: texture('output.grad.packedT', n, maxBatch), inputT: texture('input.packedT', k, maxBatch) });
        }
      }
      this.nodes.push(node);
      current = output;
      if (fusesRelu) i++;
    }
    if (!training && (options.implicitGemmConv ?? options.packedConv ?? bigForward)) this.planImplicitGemm(maxBatch);
    this.pixelsPackedFor = !training && this.packedConv.has(this.nodes[0]) ? this.nodes[0] : null;
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
    const network = await checkErrors(gpu, `the buffers of model "${model.name}" at batch size ${options.maxBatch}`, () =>
      new Network(gpu, model, options));
    if (!options.training) await network.recordWeightPacks();
    return network;
  }

  /** See ImplicitGemmConv; runs once the linear layers' textures are known. */
  private planImplicitGemm(maxBatch: number): void {
    this.nodes.forEach((node, i) => {
      if (node.layer.spec.kind !== 'conv2d' || this.packedConv.has(node)) return;
      const shape = convShape(node.layer, maxBatch);
      const consumer = this.nodes[i + 1]?.layer.spec.kind === 'flatten' ? this.nodes[i + 2] : this.nodes[i + 1];
      const linear = consumer && this.packedForward.get(consumer);
      if (!linear || !implicitGemmSuits(this.gpu, shape)) return;
      const before = this.nodes[i - 1];
      const pooledBy = before?.layer.spec.kind === 'maxpool2d' && before.output === node.input ? before : null;
      const name = layerName(node.layer);
      const { inChannels, height, width, outChannels, kernelH, kernelW } = shape;
      const input = createChannelsLastTexture(this.gpu, `${name}.input.channels-last`, maxBatch, inChannels, height, width);
      const weight = createChannelsLastTexture(this.gpu, `${name}.weight.channels-last`, outChannels, inChannels, kernelH, kernelW);
      this.textures.push(input.texture, weight.texture);
      this.implicitGemm.set(node, { input, pooledBy, weight, output: linear.input });
      if (pooledBy) this.poolsToTexture.set(pooledBy, input);
      // A 2x2 max-pool of a texture convolution's output: that convolution pools as it stores.
      const producer = this.nodes[i - 2];
      const pool = pooledBy?.layer.spec as { kernel: number; stride?: number } | undefined;
      if (pooledBy && pool?.kernel === 2 && (pool.stride ?? 2) === 2 && producer?.output === pooledBy.input &&
        this.packedConv.has(producer) && conv2dTexturePoolSuits(convShape(producer.layer, maxBatch))) {
        this.convPoolsInto.set(producer, input);
        this.poolsDoneByConv.add(pooledBy);
      }
      linear.prepacked = { ...linear.prepacked, input: true };
    });
  }

  /** See weightPacks. */
  private async recordWeightPacks(): Promise<void> {
    const gpu = this.gpu;
    for (const [node, packed] of this.packedForward) {
      this.weightPacks.push(await packLinearWeight(gpu, linearShape(node.layer, 1), this.param(`${layerName(node.layer)}.weight`), packed.weight));
      packed.prepacked = { ...packed.prepacked, weight: true };
    }
    for (const [node, packed] of this.packedConv) {
      this.weightPacks.push(await packConv2dTextureWeight(gpu, convShape(node.layer, 1), this.param(`${layerName(node.layer)}.weight`), packed));
    }
    for (const [node, conv] of this.implicitGemm) {
      const { outChannels: items, inChannels: channels, kernelH: height, kernelW: width } = convShape(node.layer, 1);
      this.weightPacks.push(await packChannelsLast(gpu, { items, channels, height, width }, this.param(`${layerName(node.layer)}.weight`),
        conv.weight));
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
      plan = this.buildPlan(batch);
      this.plans.set(batch, plan);
    }
    return plan;
  }

  private async buildPlan(batch: number): Promise<StepPlan> {
    const gpu = this.gpu;
    const layout = this.layout;
    const inputCount = batch * this.inputSize;
    const firstPacked = this.pixelsPackedFor ? this.packedConv.get(this.pixelsPackedFor) : undefined;
    const [channels, height, width] = this.model.input;
    const forward: Op[] = [firstPacked
      ? { name: `normalize (into ${layerName(this.nodes[0].layer)}'s packed input)`, flops: 2 * inputCount, bytes: 17 * inputCount,
        dispatches: [await packMatrix(gpu, { rows: batch * channels * height, k: width, normalizePixels: { mean: MNIST_MEAN, std: MNIST_STD } },
          this.pixels, firstPacked.input)] }
      : { name: 'normalize', flops: 2 * inputCount, bytes: 5 * inputCount,
        dispatches: [await normalize(gpu, { count: inputCount }, this.pixels, this.input.buffer)] }];
    for (const node of this.nodes) forward.push(...(await this.recordForward(node, batch)));
    const classes = this.model.classes;
    const lossShape = { batch, classes };
    const logits = batch * classes;
    const loss: Op[] = [
      { name: 'softmax_cross_entropy', flops: 6 * logits, bytes: 4 * (2 * logits + 3 * batch), dispatches:
        await softmaxCrossEntropy(gpu, lossShape, this.logits.buffer, this.labels, this.logits.grad!, this.sampleLoss, this.predictions) },
      { name: 'loss_stats', flops: 2 * batch, bytes: 12 * batch, dispatches:
        await lossStats(gpu, lossShape, this.sampleLoss, this.predictions, this.labels, this.stats) },
    ];
    const logProbabilities: Op[] = [{ name: 'log_softmax', flops: 4 * logits, bytes: 8 * logits,
      dispatches: await logSoftmax(gpu, lossShape, this.logits.buffer, this.logProbs) }];
    const backward: Op[] = [];
    let optimizer: Op[] = [];
    if (this.options.training) {
      for (const node of [...this.nodes].reverse()) backward.push(...(await this.recordBackward(node, batch)));
      const adam = this.options.adam ?? { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
      const n = layout.totalElements;
      optimizer = [{ name: 'adam', flops: 12 * n, bytes: 28 * n, dispatches:
        await adamStep(gpu, n, adam, this.adamUniforms!, this.params, this.grads!, this.adamM!, this.adamV!) }];
    }
    return {
      batch, forward, loss, logProbabilities, backward, optimizer,
      trainingStep: dispatchesOf(forward, loss, backward, optimizer),
      evaluationStep: dispatchesOf(forward, loss),
    };
  }

  private param(name: string): GPUBufferBinding {
    return this.layout.binding(this.params, name);
  }

  private grad(name: string): GPUBufferBinding {
    return this.layout.binding(this.grads!, name);
  }

  private async recordForward(node: Node, batch: number): Promise<Op[]> {
    const { gpu } = this;
    const { layer, input, output } = node;
    const spec = layer.spec;
    const inCount = batch * shapeSize(layer.inShape);
    const outCount = batch * shapeSize(layer.outShape);
    const name = layerName(layer);
    switch (spec.kind) {
      case 'conv2d': {
        const shape = convShape(layer, batch);
        const weights = shapeSize(layer.params[0].shape);
        const args = [input.buffer, this.param(`${spec.name}.weight`), this.param(`${spec.name}.bias`), output.buffer] as const;
        const op = { name: `${name} forward${node.relu ? '+relu' : ''}`, flops: convFlops(shape, outCount),
          bytes: 4 * (inCount + weights + outCount) };
        const packed = this.packedConv.get(node);
        if (packed) {
          const weightPrepacked = !this.options.training;
          const pooled = this.convPoolsInto.get(node);
          return [{ ...op, name: pooled ? `${op.name}+maxpool2d (channels-last)` : op.name,
            dispatches: await conv2dForwardTexture(gpu, shape, { relu: node.relu, inputPrepacked: node === this.pixelsPackedFor, weightPrepacked,
              pooled }, ...args, packed) }];
        }
        const gemm = this.implicitGemm.get(node);
        if (gemm) {
          const [channels, height, width] = layer.inShape;
          const packInput = gemm.pooledBy ? [] : [await packChannelsLast(gpu, { items: batch, channels, height, width }, input.buffer, gemm.input)];
          return [{ ...op, name: `${op.name} (implicit GEMM)`, dispatches: [...packInput,
            await conv2dForwardImplicitGemm(gpu, shape, { relu: node.relu }, gemm.input, gemm.weight, args[2], gemm.output)] }];
        }
        return [{ ...op, dispatches: await conv2dForward(gpu, shape, { relu: node.relu }, ...args) }];
      }
      case 'linear': {
        const shape = linearShape(layer, batch);
        const weights = shape.inFeatures * shape.outFeatures;
        const op = { name: `${name} forward${node.relu ? '+relu' : ''}`, flops: 2 * batch * weights,
          bytes: 4 * (inCount + weights + outCount) };
        return [{ ...op, dispatches: await linearForward(gpu, shape, { relu: node.relu, packed: this.packedForward.get(node) },
          input.buffer, this.param(`${spec.name}.weight`), this.param(`${spec.name}.bias`), output.buffer) }];
      }
      case 'maxpool2d': {
        if (this.poolsDoneByConv.has(node)) return [];
        const shape = poolShape(layer, batch);
        const texture = this.poolsToTexture.get(node);
        if (texture) {
          return [{ name: `${name} forward (channels-last)`, flops: inCount, bytes: 4 * (inCount + outCount), dispatches: [
            await packChannelsLast(gpu, { items: batch, channels: shape.channels, height: shape.height, width: shape.width,
              pool: shape.kernel, stride: shape.stride }, input.buffer, texture)] }];
        }
        return [{ name: `${name} forward`, flops: inCount, bytes: 4 * (inCount + 2 * outCount),
          dispatches: await maxPool2dForward(gpu, shape, input.buffer, output.buffer, node.argmax!) }];
      }
      case 'relu':
        return [{ name: `${name} forward`, flops: outCount, bytes: 8 * outCount,
          dispatches: await reluForward(gpu, outCount, input.buffer, output.buffer) }];
      case 'flatten':
        return [];
    }
  }

  private async recordBackward(node: Node, batch: number): Promise<Op[]> {
    const { gpu } = this;
    const { layer, input, output } = node;
    const spec = layer.spec;
    const ops: Op[] = [];
    const gradOutput = output.grad;
    if (!gradOutput) return ops;
    const inCount = batch * shapeSize(layer.inShape);
    const outCount = batch * shapeSize(layer.outShape);
    const name = layerName(layer);
    const reluMask = this.reluBackwardByConsumer.has(input.buffer) ? input.buffer : undefined;
    if ((node.relu || spec.kind === 'relu') && !this.reluBackwardByConsumer.has(output.buffer)) {
      // A standalone ReLU shares its gradient buffer with its input: masking in place is its whole backward.
      ops.push({ name: `${name} relu backward`, flops: outCount, bytes: 12 * outCount,
        dispatches: await reluBackward(gpu, outCount, output.buffer, gradOutput) });
    }
    switch (spec.kind) {
      case 'conv2d': {
        const shape = convShape(layer, batch);
        const weights = shapeSize(layer.params[0].shape);
        ops.push({ name: `${name} backward weight`, flops: convFlops(shape, outCount), bytes: 4 * (inCount + weights + outCount),
          dispatches: await conv2dBackwardWeight(gpu, shape, input.buffer, gradOutput, this.grad(`${spec.name}.weight`),
            this.grad(`${spec.name}.bias`)) });
        if (input.grad) {
          ops.push({ name: `${name} backward input`, flops: convFlops(shape, outCount), bytes: 4 * (inCount + weights + outCount),
            dispatches: await conv2dBackwardInput(gpu, shape, gradOutput, this.param(`${spec.name}.weight`), input.grad) });
        }
        break;
      }
      case 'linear': {
        const shape = linearShape(layer, batch);
        const weights = shape.inFeatures * shape.outFeatures;
        const flops = 2 * batch * weights;
        ops.push({ name: `${name} backward weight`, flops, bytes: 4 * (inCount + weights + outCount),
          dispatches: await linearBackwardWeight(gpu, shape, input.buffer, gradOutput, this.grad(`${spec.name}.weight`),
            this.grad(`${spec.name}.bias`), { packed: this.packedWeightGradient.get(node) }) });
        if (input.grad) {
          ops.push({ name: `${name} backward input${reluMask ? '+relu' : ''}`, flops, bytes: 4 * (inCount + weights + outCount),
            dispatches: await linearBackwardInput(gpu, shape, gradOutput, this.param(`${spec.name}.weight`), input.grad,
              { reluOutput: reluMask }) });
        }
        break;
      }
      case 'maxpool2d':
        if (input.grad) {
          ops.push({ name: `${name} backward${reluMask ? '+relu' : ''}`, flops: inCount, bytes: 4 * (inCount + 2 * outCount),
            dispatches: await maxPool2dBackward(gpu, poolShape(layer, batch), gradOutput, node.argmax!, input.grad,
              { reluOutput: reluMask }) });
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

function convShape(layer: ResolvedLayer, batch: number): Conv2dShape {
  const spec = layer.spec as Extract<ResolvedLayer['spec'], { kind: 'conv2d' }>;
  const [inChannels, height, width] = layer.inShape;
  return {
    batch, inChannels, height, width, outChannels: spec.outChannels, kernelH: spec.kernel, kernelW: spec.kernel,
    stride: spec.stride ?? 1, padding: spec.padding ?? 0,
  };
}

function linearShape(layer: ResolvedLayer, batch: number): LinearShape {
  return { batch, inFeatures: layer.inShape[0], outFeatures: layer.outShape[0] };
}

function poolShape(layer: ResolvedLayer, batch: number): MaxPool2dShape {
  const spec = layer.spec as Extract<ResolvedLayer['spec'], { kind: 'maxpool2d' }>;
  const [channels, height, width] = layer.inShape;
  return { batch, channels, height, width, kernel: spec.kernel, stride: spec.stride ?? spec.kernel };
}
