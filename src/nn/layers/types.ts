// What a layer kind must say about itself (one definition per kind, src/nn/layers/<kind>.ts). Every
// member is required: a kind that leaves one out does not compile.
import type { TextureGemmOperands } from '../../kernels/conv2d_texture_gemm.ts';
import type { Gpu } from '../../gpu/device.ts';
import type { DeviceKind, DeviceProfile } from '../../gpu/profile.ts';
import type { Dispatch } from '../../gpu/kernel.ts';
import type { Conv2dPackedOperands } from '../../kernels/conv2d_texture.ts';
import type { ChannelsLastTexture, PackedMatrix } from '../../kernels/layout.ts';
import type { LinearForwardTextures } from '../../kernels/linear.ts';
import type { ParameterLayout } from '../parameters.ts';
import type { LayerKind } from './index.ts';
import type { Layout, LinearVariant, NodeChoice, PlanNode, PlanRules, Variant } from '../planner.ts';
import type { LayerSpec, ParameterSpec, ResolvedLayer } from '../spec.ts';

/** The type of a model-file field: how it is checked and what the error says was expected. */
export type Field = 'int' | 'count' | 'name' | 'probability' | 'positive' | 'fraction' | 'number';

/** A layer of one kind with its shapes resolved. */
export type Resolved<S extends LayerSpec> = ResolvedLayer & { spec: S };

/** What the float64 reference's forward kept for its backward. */
export interface ReferenceForward {
  output: Float64Array;
  /** Max-pooling: the index each window chose. */
  argmax?: Uint32Array;
  /** How close the forward came to a kink (see NetworkReferenceResult.kinkMargin); Infinity if it has none. */
  kinkMargin?: number;
}

/** What the whole-network reference gives a layer: its parameters, and where its gradients go. */
export interface ReferenceContext {
  batch: number;
  /** The layer's index in resolveLayers(model). */
  index: number;
  /** Training mode; in evaluation, batch norm normalizes with its running statistics. */
  training: boolean;
  param(name: string): ArrayLike<number>;
  setGradient(name: string, gradient: Float64Array): void;
  /** Training dropout's mask (scale or 0 per element) for this layer; undefined in evaluation. */
  dropoutMask(): ArrayLike<number> | undefined;
}

export type OnnxAttribute = { name: string; int: number } | { name: string; ints: number[] } | {
  name: string;
  float: number;
};

/** In a node's `inputs`: the value that entered the layer (for a layer whose nodes use it twice, x·f(x)). */
export const LAYER_INPUT = '<layer input>';

/**
 * One ONNX node; it reads the previous node's output, then `inputs`: initializer names, LAYER_INPUT,
 * or names of `constants` (float scalars the graph then holds as initializers).
 */
export interface OnnxNode {
  op: string;
  inputs: string[];
  attributes?: OnnxAttribute[];
  constants?: Readonly<Record<string, number>>;
}

export interface LayerDefinition<S extends LayerSpec, N extends KindNodeBase = PlanNode> {
  kind: S['kind'];
  /** One line for the docs (defineModel's, the README's list). */
  summary: string;
  /** Model-file fields besides `kind`: `key` required, `key?` optional. */
  fields: Readonly<Record<string, Field>>;
  /**
   * The output shape (per sample) and the parameters (PyTorch's state_dict names, shapes,
   * initialization), given the input shape; throws an Error whose message follows `where`.
   */
  resolve(spec: S, inShape: readonly number[], where: string): { outShape: number[]; params: ParameterSpec[] };
  /** A ReLU right after it runs inside its forward (the planner fuses it). */
  absorbsRelu: boolean;
  /** The kernel variants it offers (planner.ts); the first is the default. */
  variants: readonly N['variant'][];
  /** How the planner chooses among them, what each reads and writes, and where each may run. */
  planning: LayerPlanning<S>;
  /** Float64 forward of a batch, from the per-kernel references in src/reference/. */
  referenceForward(layer: Resolved<S>, input: Float64Array, context: ReferenceContext): ReferenceForward;
  /** Float64 backward: sets its parameters' gradients and returns its input's. */
  referenceBackward(
    layer: Resolved<S>,
    input: Float64Array,
    forward: ReferenceForward,
    gradOutput: Float64Array,
    context: ReferenceContext,
  ): Float64Array;
  /** Its ONNX nodes (opset 13, inference mode); [] for a layer that is the identity there. */
  onnx(layer: Resolved<S>): OnnxNode[];
  /**
   * Its torch.nn module as a Python expression of `layer` (the model file's object) and `shape` (the
   * per-sample input shape), for bench/pytorch_layers.py (generated: scripts/gen-pytorch-layers.ts).
   */
  pytorch: string;
  /** How it runs on the GPU: its plan nodes, allocation and recording of each variant it offers. */
  kernels: LayerKernels<S, N>;
}

// --- planning: the kind's part of planner.ts's rules ------------------------------------------------

/** A node while the planner chooses its variant: its layer and what is chosen for it so far. */
export interface PlanningNode {
  name: string;
  kind: LayerSpec['kind'];
  layer: ResolvedLayer;
  /** The following ReLU runs inside this node's forward. */
  relu: boolean;
  choice: NodeChoice;
}

/** What a kind's rules see of the plan being chosen. */
export interface ChoiceSite {
  training: boolean;
  maxBatch: number;
  device: DeviceProfile;
  rules: PlanRules;
  /** Forward-only at a batch big enough that packing textures pays (rules.packedForwardMinBatch). */
  bigForward: boolean;
  /** The node `offset` places from this one (undefined past either end). */
  neighbour(offset: number): PlanningNode | undefined;
  /** The node that reads this node's output, through a view (flatten). */
  consumer(): PlanningNode | undefined;
  /** Whether `node`, as chosen so far, reads `layout` when the node before it writes that. */
  reads(node: PlanningNode | undefined, layout: Layout): boolean;
  /** Whether `node`, as chosen so far, can also max-pool its output for a 2x2 max-pool after it (see poolsOutput). */
  poolsOutput(node: PlanningNode | undefined): boolean;
}

/** What a kind's legality rule sees of a plan. */
export interface CheckSite {
  training: boolean;
  maxBatch: number;
  device: DeviceProfile;
  /** The plan's node `offset` places from this one (undefined past either end). */
  neighbour(offset: number): DraftNode | undefined;
}

/**
 * A kind's planning rules. The planner asks every node's `choose` (in order), then every node's
 * `fuse` (from the last node back, so a node sees what the nodes after it chose), then checks the
 * plan with `layouts` and `problem`. A kind with one variant leaves them all out.
 */
export interface LayerPlanning<S extends LayerSpec> {
  /** The variant (and weight gradient) the device's rules give the node from its own shapes; undefined keeps the default. */
  choose?(layer: Resolved<S>, site: ChoiceSite): NodeChoice | undefined;
  /** A change of the node's own choice that depends on its neighbours' (a fused variant); undefined keeps it. */
  fuse?(layer: Resolved<S>, choice: NodeChoice, site: ChoiceSite): NodeChoice | undefined;
  /** [reads, writes] of `variant`, given what the node before writes; default: a buffer in, a buffer out. */
  layouts?(variant: Variant, previous: Layout, first: boolean): [Layout, Layout];
  /** As the first node, `variant` reads the pixels normalized straight into its packed input. */
  readsPackedPixels?(variant: Variant): boolean;
  /** Why the plan's node cannot run where the plan puts it; undefined if it can. */
  problem?(layer: Resolved<S>, node: DraftNode, site: CheckSite): string | undefined;
  /** Training: how its weight gradient's product may run (the first is the default); undefined if it has none to choose. */
  weightGradientVariants?: readonly LinearVariant[];
  /** Its output is a ReLU's (the node's own fused ReLU aside): the ReLU kind itself. */
  outputIsRelu?: boolean;
  /** Its backward can apply the backward of the ReLU that produced its input, masking as it writes. */
  appliesReluBackward?: boolean;
  /** With `choice`, it can also max-pool its output for the 2x2 max-pool after it (that pool then runs in-conv). */
  poolsOutput?(layer: Resolved<S>, choice: NodeChoice, site: ChoiceSite): boolean;
}

// --- the GPU side: what a node allocates and records (Network, network.ts, drives these) ----------

/** What a group of dispatches computes, for the tuner (which measures one role of one node) and profiles. */
export type OpRole =
  | 'input'
  | 'forward'
  | 'statistics'
  | 'loss'
  | 'backward'
  | 'backwardWeight'
  | 'backwardInput'
  | 'reluBackward'
  | 'optimizer';

/** A group of dispatches that computes one thing, with its arithmetic and memory cost (for profiles). */
export interface Op {
  name: string;
  role: OpRole;
  flops: number;
  bytes: number;
  dispatches: Dispatch[];
}

/** A tensor between nodes, stored as the plan's layout for it says; the network allocates each once. */
export type Tensor = Value | PackedTensor | ChannelsLastTensor | AbsentTensor;

/** `nchw`: an f32 buffer and, when backward needs it, the buffer of its gradient. */
export interface Value {
  layout: 'nchw';
  shape: number[];
  buffer: GPUBuffer;
  grad: GPUBuffer | null;
}

/** `packed`: rows of 4-float texels, in the matrix shape its reader multiplies (see LayerKernels.packedInput). */
export interface PackedTensor {
  layout: 'packed';
  shape: number[];
  matrix: PackedMatrix;
}

/** `channels-last`: what an implicit-GEMM convolution reads. */
export interface ChannelsLastTensor {
  layout: 'channels-last';
  shape: number[];
  texture: ChannelsLastTexture;
}

/** The input of a node whose work the node before did (an in-conv max-pool): there is none. */
export interface AbsentTensor {
  layout: 'none';
  shape: number[];
}

/** A node's input and output as buffers, for kernels that run on nothing else; throws naming the node otherwise. */
export function onBuffers(node: NodeState): { input: Value; output: Value } {
  const { input, output, plan } = node;
  if (input.layout !== 'nchw' || output.layout !== 'nchw') {
    throw new Error(
      `${plan.name} (${plan.variant}) runs on buffers; the plan gives it ${input.layout} -> ${output.layout}`,
    );
  }
  return { input, output };
}

/** What a node's variant allocates besides the tensors it reads and writes. */
export interface Allocations {
  /** maxpool2d buffer variant: the index each window chose, for its backward. */
  argmax?: GPUBuffer;
  /** conv2d texture variants: its packed input (its input tensor, or packed by itself) and weights. */
  packedConv?: Conv2dPackedOperands;
  /** conv2d implicit-gemm: its channels-last input (its input tensor, or packed by itself) and weights. */
  channelsLast?: { input: ChannelsLastTexture; weight: ChannelsLastTexture };
  /** conv2d texture-gemm: its padded input, weights and (training) output gradient and flipped weights, packed. */
  textureGemm?: TextureGemmOperands;
  /** conv2d texture variants: the buffers their kernel binds but does not use (packed input, pooled output). */
  boundOnly?: { input: GPUBuffer; output: GPUBuffer };
  /** linear texture variant: its packed input (its input tensor, or packed by itself) and weights. */
  linearTextures?: LinearForwardTextures;
  /** linear weight gradient from textures: gradOutputᵀ and inputᵀ packed. */
  weightGradientTextures?: { gradOutputT: PackedMatrix; inputT: PackedMatrix };
  /** batch norm, training: the batch's mean and biased variance per channel. */
  batchStats?: GPUBuffer;
  /** dropout, training: each element's scale (1 / (1 - p) or 0), for the backward. */
  dropoutMask?: GPUBuffer;
}

/** One plan node as executed, with what its variant allocated. */
export interface NodeState extends Allocations {
  plan: PlanNode;
  layer: ResolvedLayer;
  input: Tensor;
  output: Tensor;
}

export interface AllocateContext {
  gpu: Gpu;
  maxBatch: number;
  training: boolean;
  /** Texture variants' weights are packed once per upload (forward-only plans). */
  weightsPerUpload: boolean;
  f32(label: string, elements: number): GPUBuffer;
  /** Tracks a texture for destroy() and the allocation count. */
  texture<T extends { texture: GPUTexture }>(made: T): T;
}

export interface RecordContext {
  gpu: Gpu;
  batch: number;
  training: boolean;
  weightsPerUpload: boolean;
  /** GPU plans' reductions use subgroup operations. */
  subgroups: boolean;
  /** The class of device the plan is for (GPU-class tiles differ by class). */
  deviceKind: DeviceKind;
  layout: ParameterLayout;
  params: GPUBuffer;
  /** Null in a forward-only network. */
  grads: GPUBuffer | null;
  /** Seed and step for dropout (null when the network draws no random numbers). */
  rng: GPUBuffer | null;
  param(name: string): GPUBufferBinding;
  grad(name: string): GPUBufferBinding;
  /** Backward: the ReLU that produced this node's input left its backward to this node (its output masks the gradient). */
  reluMask?: GPUBuffer;
}

/** A node of one kind as executed: its layer and its plan node typed by the kind (at the batch being recorded). */
export type KindState<S extends LayerSpec, N extends KindNodeBase> = NodeState & { layer: Resolved<S>; plan: N };

/** How a node's output tensor is stored: its own buffer (and gradient), or its input's (a view, eval's dropout). */
export type OutputStorage = 'own' | 'input' | 'own-buffer-shared-gradient';

/** The roles a node's kernels have tiles for, in the order plans print and the tuner measures them. */
export type TileRole = 'forward' | 'backwardWeight' | 'backwardInput';

/** Where a node's tiles are chosen: its batch (an epoch's last may be smaller), device class and mode. */
export interface TileSite {
  batch: number;
  device: DeviceKind;
  training: boolean;
  /** Values laid over a role's defaults (the tune cache's, the tuner's candidate); undefined keeps them. */
  tuned(role: TileRole): Readonly<Record<string, number>> | undefined;
}

/** A role's tiles typed as its kernel takes them: the tuned values over the kernel's defaults, whose type they carry. */
export function typedTiles<T extends object>(defaults: T, tuned: Readonly<Record<string, number>> | undefined): T {
  return { ...defaults, ...tuned };
}

// --- plan nodes: each kind's variants with their tiles -----------------------------------------------

/** What every plan node has, whatever its kind and variant. */
export interface NodeCommon {
  /** Unique: the layer's name (conv1, fc1) or its kind and ordinal (maxpool2d#1), as resolveLayers names it. */
  name: string;
  /** Index of the layer in resolveLayers(model); a fused ReLU is the next one. */
  layer: number;
  /** The following ReLU runs inside this node's forward. */
  relu: boolean;
  reads: Layout;
  writes: Layout;
  /**
   * Training, nodes whose output is a ReLU's: `pass`, the ReLU's backward masks the gradient in a pass
   * of its own; `in-consumer`, the next node's backward (linear input gradient, max-pool) applies it as it writes.
   */
  reluBackward?: 'pass' | 'in-consumer';
}

/**
 * A node before its kind types it: its variant as chosen (checkPlan checks it is one of the kind's), its
 * layouts, and (training, linear) how its weight gradient runs. What checkPlan and `problem` read.
 */
export interface DraftNode extends NodeCommon {
  kind: LayerKind;
  variant: Variant;
  weightGradient?: LinearVariant;
}

/** What every kind's node is (index.ts's PlanNode is the union of them). */
export type KindNodeBase = NodeCommon & { kind: LayerKind; variant: Variant; tiles: object };

/** The tiles of a node whose kernels have none to choose. */
export type NoTiles = Record<never, never>;

/** A kind's plan node: its common fields with one of its variants' parts ({ variant, tiles, ... }), for each part. */
export type KindNode<K extends LayerKind, Part> = Part extends unknown ? NodeCommon & { kind: K } & Part : never;

/** The node of a kind whose variants all run without tiles. */
export type UntiledNode<K extends LayerKind, V extends Variant> = KindNode<K, { variant: V; tiles: NoTiles }>;

/**
 * A kind's node from a draft, with `variant` narrowed by the kind and its typed tiles; `extra` (the
 * linear weight gradient) goes between tiles and reluBackward, where plans have always printed it.
 */
export function planNode<K extends LayerKind, V extends Variant, T extends object, E extends object>(
  kind: K,
  draft: DraftNode,
  variant: V,
  tiles: T,
  extra: E,
): NodeCommon & { kind: K; variant: V; tiles: T } & E {
  const { name, layer, relu, reads, writes, reluBackward } = draft;
  return {
    name,
    kind,
    layer,
    variant,
    relu,
    reads,
    writes,
    tiles,
    ...extra,
    ...(reluBackward ? { reluBackward } : {}),
  };
}

/** The node of a kind without tiles from its draft; throws naming the kind if the variant is none of `variants`. */
export function untiledNode<K extends LayerKind, V extends Variant>(
  kind: K,
  variants: readonly V[],
  draft: DraftNode,
): UntiledNode<K, V> {
  const variant = variants.find((v) => v === draft.variant);
  if (variant === undefined) throw new Error(notAVariant(kind, draft, variants));
  return planNode(kind, draft, variant, {}, {});
}

/** The message for a draft whose variant its kind does not offer (checkPlan says so first, for a plan). */
export function notAVariant(kind: LayerKind, draft: DraftNode, variants: readonly Variant[]): string {
  return `${draft.name}: "${draft.variant}" is not a ${kind} variant (${variants.join(', ')})`;
}

/** A role's tiles that the node's kernels need; throws naming the node if the plan has none (a forward-only one). */
export function needTiles<T>(tiles: T | undefined, node: NodeCommon, role: TileRole): T {
  if (tiles === undefined) throw new Error(`${node.name}: the plan has no ${role} tiles (is it forward-only?)`);
  return tiles;
}

export interface LayerKernels<S extends LayerSpec, N extends KindNodeBase = PlanNode> {
  /** The matrix a packed input of it is stored as, [rows, k] at maxBatch; undefined if no variant reads one. */
  packedInput?(layer: Resolved<S>, maxBatch: number): { rows: number; k: number; paged?: boolean };
  /**
   * Its plan node: the draft's variant as one of its own, with the tiles of each role that variant runs
   * (the kernels' defaults at the site's batch, the site's tuned values laid over them).
   */
  node(layer: Resolved<S>, draft: DraftNode, site: TileSite): N;
  /** Its output storage: `input` for a view; a standalone ReLU masks its gradient in place. */
  output(training: boolean): OutputStorage;
  /** The buffers and textures its variant needs besides its output. */
  allocate(node: KindState<S, N>, context: AllocateContext): Allocations;
  /** Its forward's ops at the context's batch. */
  forward(node: KindState<S, N>, context: RecordContext): Promise<Op[]>;
  /** Its backward's ops (parameter gradients, then its input's gradient if it has one). */
  backward(node: KindState<S, N>, context: RecordContext): Promise<Op[]>;
  /** Forward-only texture variants: packing its weights after each upload. */
  packWeights?(node: KindState<S, N>, context: RecordContext): Promise<Dispatch[]>;
}
