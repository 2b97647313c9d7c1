// Decides how a model runs on a device, as a value: per node, which kernel variant, with which tiles,
// reading and writing which layouts. Pure (no GPU calls): the plan is plain data that Network
// (network.ts) executes, `train --plan` prints, and tests build by hand. The rules of each kind (which
// variant, reading and writing what, legal where) are its definition's `planning` (src/nn/layers/): a
// new variant is a kernel, a value of a variant type below and its kind's hooks; nothing here.
import type { DeviceKind, DeviceProfile } from '../gpu/profile.ts';
import { layerDefinition, type LayerKind, type PlanNode } from './layers/index.ts';
import type { ChoiceSite, DraftNode, LayerPlanning, PlanningNode, TileRole } from './layers/types.ts';
import { type LayerSpec, type ModelSpec, type ResolvedLayer, resolveLayers } from './spec.ts';

/**
 * How a tensor is stored between nodes: `nchw` an f32 buffer (NCHW, or [batch, features]); `packed`
 * rows of 4-float texels (layout.ts PackedMatrix); `channels-last` a ChannelsLastTexture; `none` for a
 * node that reads nothing itself (its work is done by the node before).
 */
export type Layout = 'nchw' | 'packed' | 'channels-last' | 'none';

/**
 * conv2d: buffer kernel; from textures; from textures, max-pooling into the next conv's input; implicit
 * GEMM (forward-only, from textures); `tiled-gemm`: all three passes as implicit GEMMs with workgroup
 * tiles (conv2d_gemm_tiled.ts), the GPU-class variant.
 */
export type ConvVariant = 'buffer' | 'texture' | 'texture+pool' | 'implicit-gemm' | 'texture-gemm' | 'tiled-gemm';
/** maxpool2d: buffer kernel (with argmax); packing the next conv's channels-last input; done by the conv before. */
export type PoolVariant = 'buffer' | 'channels-last' | 'in-conv';
/**
 * linear products (forward, weight gradient): buffer kernel, from packed textures, or `tiled`: the
 * workgroup-tiled GEMM (gemm_tiled.ts, the GPU-class variant; a tiled forward also runs the input gradient tiled).
 */
export type LinearVariant = 'buffer' | 'texture' | 'tiled';
export type Variant = ConvVariant | PoolVariant | LinearVariant | 'standalone' | 'view';

/** The normalized input: a buffer, or (forward-only) packed straight from the pixels for a first texture conv. */
export type InputVariant = 'buffer' | 'into-packed';

/**
 * A node of a plan: a union by kind, and within a kind by variant where their tiles differ (each kind's
 * module in src/nn/layers/ declares its node). Its `tiles` are its kernels' configurations at maxBatch,
 * by role (see nodeAt for other batches).
 */
export type { DraftNode, PlanNode };

export interface ExecutionPlan {
  model: string;
  training: boolean;
  maxBatch: number;
  device: DeviceProfile;
  input: InputVariant;
  /** Texture variants' weights: packed once per upload (forward-only), or in every pass (training). */
  weights: 'per-upload' | 'per-pass';
  nodes: PlanNode[];
}

export interface PlanOptions {
  training: boolean;
  maxBatch: number;
}

/** What a hand-built plan chooses; anything left out is the buffer variant, the standalone pass. */
export interface PlanChoices {
  input?: InputVariant;
  nodes?: Record<string, NodeChoice>;
}

/** What is chosen for one node. */
export interface NodeChoice {
  variant?: Variant;
  weightGradient?: LinearVariant;
  reluBackward?: 'pass' | 'in-consumer';
}

export class PlanError extends Error {
  override name = 'PlanError';
  /** The node whose variant cannot run where the plan puts it, when one is to blame. */
  readonly node?: string;
  constructor(message: string, node?: string) {
    super(message);
    if (node !== undefined) this.node = node;
  }
}

/** The thresholds of the planner's rules for a class of device (the kinds' `choose` hooks read them). */
export interface PlanRules {
  /** A linear layer runs from textures when its product is at least this big in both k and n. */
  packedLinearMinFeatures: number;
  /** Forward-only networks for smaller batches keep the buffer kernels: packing costs more than it saves. */
  packedForwardMinBatch: number;
  /** Training runs big linear layers' weight gradients from textures. */
  packedWeightGradient: boolean;
  /** A stride-1 convolution of at least this many input channels runs from textures (conv2d texture-gemm). */
  textureGemmMinChannels: number;
  /** Every conv and linear layer runs its GPU-class variant (workgroup tiles); the rules above then do not apply. */
  tiled: boolean;
}

// Measured on lavapipe (bench/RESULTS.md): today's choices there, unchanged. GPUs run the GPU-class
// kernels (workgroups of 64-256 invocations, operands staged in workgroup memory), whose tiles differ
// by class (gemm_tiles.ts); not yet measured on a GPU (bench/RESULTS.md says so).
const CPU_DRIVER_RULES: PlanRules = {
  packedLinearMinFeatures: 64,
  packedForwardMinBatch: 128,
  packedWeightGradient: true,
  // 16 -> 32 channels (`fast` conv2) ran 1.5-2x faster from textures, 32-96 (`best`) 3-4x; `digit`'s 10
  // stay on buffers (its bits are the tutorial's).
  textureGemmMinChannels: 16,
  tiled: false,
};
const GPU_RULES: PlanRules = { ...CPU_DRIVER_RULES, tiled: true };
const RULES: Record<DeviceKind, PlanRules> = {
  'cpu-driver': CPU_DRIVER_RULES,
  'integrated-gpu': GPU_RULES,
  'discrete-gpu': GPU_RULES,
};

/** The rules' thresholds for a class of device (benchmarks time the kernels the rules would choose). */
export const planRules = (kind: DeviceKind): PlanRules => RULES[kind];

/**
 * The plan the rules choose for `model` on `device`: each node's kind chooses its own variant (its
 * definition's planning hooks, src/nn/layers/), first alone, then (from the last node back) the fused
 * variants that depend on its neighbours' choices; ReLU backwards go into consumers that can apply them.
 */
export function planNetwork(model: ModelSpec, options: PlanOptions, device: DeviceProfile): ExecutionPlan {
  const rules = RULES[device.kind];
  const { training, maxBatch } = options;
  const nodes: PlanningNode[] = nodesOf(model).map((s) => ({ ...s, layer: s.resolved, choice: {} }));
  const siteOf = (i: number): ChoiceSite => ({
    training,
    maxBatch,
    device,
    rules,
    bigForward: !training && maxBatch >= rules.packedForwardMinBatch,
    neighbour: (offset) => nodes[i + offset],
    consumer: () => consumerOf(nodes, i),
    reads: (node, layout) =>
      node !== undefined && layoutsOf(node.kind, node.choice.variant ?? defaultVariant(node.kind), layout, false)[0] ===
        layout,
    poolsOutput: (node) =>
      node !== undefined &&
      (planningOf(node.kind).poolsOutput?.(node.layer, node.choice, siteOf(nodes.indexOf(node))) ?? false),
  });
  nodes.forEach((node, i) => {
    node.choice = { ...node.choice, ...planningOf(node.kind).choose?.(node.layer, siteOf(i)) };
  });
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    node.choice = { ...node.choice, ...planningOf(node.kind).fuse?.(node.layer, node.choice, siteOf(i)) };
  }
  const first = nodes[0];
  const input: InputVariant = !training && first?.choice.variant !== undefined &&
      planningOf(first.kind).readsPackedPixels?.(first.choice.variant)
    ? 'into-packed'
    : 'buffer';
  if (training) {
    nodes.forEach((node, i) => {
      if (producesRelu(node) && reluBackwardFusable(nodes, i)) node.choice.reluBackward = 'in-consumer';
    });
  }
  return buildPlan(model, options, device, { input, nodes: Object.fromEntries(nodes.map((n) => [n.name, n.choice])) });
}

/** A plan with the given choices, its layouts and tiles derived; throws a PlanError if it is not legal. */
export function buildPlan(
  model: ModelSpec,
  options: PlanOptions,
  device: DeviceProfile,
  choices: PlanChoices = {},
): ExecutionPlan {
  const { training, maxBatch } = options;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`batch size must be >= 1, got ${maxBatch}`);
  const skeleton = nodesOf(model);
  const known = new Set(skeleton.map((n) => n.name));
  for (const name of Object.keys(choices.nodes ?? {})) {
    if (!known.has(name)) {
      throw new PlanError(`${model.name}: the plan names "${name}", which is no node (${[...known].join(', ')})`);
    }
  }
  const input = choices.input ?? 'buffer';
  let previous: Layout = input === 'into-packed' ? 'packed' : 'nchw';
  const drafts: DraftNode[] = skeleton.map((s, i) => {
    const choice = choices.nodes?.[s.name] ?? {};
    const variant = choice.variant ?? defaultVariant(s.kind);
    const [reads, writes] = layoutsOf(s.kind, variant, previous, i === 0);
    previous = writes;
    const weightGradients = planningOf(s.kind).weightGradientVariants;
    return {
      name: s.name,
      kind: s.kind,
      layer: s.layer,
      variant,
      relu: s.relu,
      reads,
      writes,
      ...(training && weightGradients ? { weightGradient: choice.weightGradient ?? weightGradients[0] } : {}),
      ...(training && producesRelu(s) ? { reluBackward: choice.reluBackward ?? 'pass' } : {}),
    };
  });
  const plan = {
    model: model.name,
    training,
    maxBatch,
    device,
    input,
    weights: training ? 'per-pass' as const : 'per-upload' as const,
  };
  checkPlan(model, { ...plan, nodes: drafts });
  // Checked, each node is built by its kind, which types its variant and tiles.
  return { ...plan, nodes: drafts.map((draft) => nodeAt(model, plan, draft, maxBatch)) };
}

/** The choices a plan was built from: buildPlan(model, options, device, choicesOf(plan)) rebuilds it. */
export function choicesOf(plan: ExecutionPlan): PlanChoices {
  const nodes: NonNullable<PlanChoices['nodes']> = {};
  for (const node of plan.nodes) {
    const { name, variant, reluBackward } = node;
    const weightGradient = weightGradientOf(node);
    nodes[name] = { variant, ...(weightGradient ? { weightGradient } : {}), ...(reluBackward ? { reluBackward } : {}) };
  }
  return { input: plan.input, nodes };
}

/** A plan whose nodes may still be drafts (what checkPlan reads of one). */
export type PlanDraft = Omit<ExecutionPlan, 'nodes'> & { nodes: readonly DraftNode[] };

/** Throws a PlanError naming the first node whose variant cannot run where the plan puts it. */
export function checkPlan(model: ModelSpec, plan: PlanDraft): void {
  const skeleton = nodesOf(model);
  if (skeleton.length !== plan.nodes.length || skeleton.some((s, i) => s.name !== plan.nodes[i].name)) {
    throw new PlanError(`the plan for "${plan.model}" does not match the nodes of model "${model.name}"`);
  }
  const { training, maxBatch, device } = plan;
  const fail = (node: DraftNode, why: string): never => {
    throw new PlanError(
      `${model.name} ${
        training ? 'training' : 'forward-only'
      } plan at batch ${maxBatch}: ${node.name} (${node.variant}) ${why}`,
      node.name,
    );
  };
  let previous: Layout = plan.input === 'into-packed' ? 'packed' : 'nchw';
  if (plan.input === 'into-packed') {
    const first = plan.nodes[0];
    if (training) {
      fail(
        first,
        'cannot read pixels packed straight into its input: training keeps the normalized input for its backward',
      );
    }
    if (!planningOf(first.kind).readsPackedPixels?.(first.variant)) {
      fail(first, 'cannot read a packed input: only texture convolutions do');
    }
  }
  plan.nodes.forEach((node, i) => {
    const s = skeleton[i];
    if (!variantsOf(node.kind).includes(node.variant)) {
      fail(node, `is not a ${node.kind} variant (${variantsOf(node.kind).join(', ')})`);
    }
    if (node.reads !== 'none' && node.reads !== previous) {
      fail(node, `reads ${node.reads}, but the node before writes ${previous}`);
    }
    if (node.writes !== 'nchw' && training && !isView(node.kind)) {
      fail(node, `writes ${node.writes}: training needs every output as a buffer`);
    }
    const problem = planningOf(node.kind).problem?.(s.resolved, node, {
      training,
      maxBatch,
      device,
      neighbour: (offset) => plan.nodes[i + offset],
    });
    if (problem) fail(node, problem);
    if (node.writes !== 'nchw' && !isView(node.kind)) {
      // The node that reads it (through a view) must read that layout, or nothing (its work done by this one).
      const reader = consumerOf(plan.nodes, i);
      if (!reader || (reader.reads !== node.writes && reader.reads !== 'none')) {
        fail(node, `writes ${READERS[node.writes]}`);
      }
    }
    if (node.reluBackward === 'in-consumer' && !reluBackwardFusable(plan.nodes, i)) {
      fail(node, "leaves its ReLU's backward to the next node, which is no linear layer or max-pool");
    }
    previous = node.writes;
  });
  if (previous !== 'nchw') {
    throw new PlanError(`${model.name}: the last node writes ${previous}; the loss reads a buffer`);
  }
}

/** Values laid over one role's tiles: the tuner's candidate. */
export interface TileOverride {
  role: TileRole;
  tiles: Readonly<Record<string, number>>;
}

/**
 * A node as its kind builds it at `batch` (an epoch's last batch may be smaller than maxBatch): its
 * tiles the device's tuned configuration where it has one, else the kernels' rules
 * (src/kernels/conv2d_tiles.ts, gemm_tiles.ts), with `override` (the tuner's candidate) over one role's.
 */
export function nodeAt(
  model: ModelSpec,
  plan: Pick<ExecutionPlan, 'device' | 'training'>,
  node: DraftNode,
  batch: number,
  override?: TileOverride,
): PlanNode {
  const layer = resolveLayers(model)[node.layer];
  return layerDefinition(node.kind).kernels.node(layer, node, {
    batch,
    device: plan.device.kind,
    training: plan.training,
    tuned: (role) => {
      const tuned = plan.device.tuned?.[`${node.name}.${role}`];
      return override?.role === role ? { ...tuned, ...override.tiles } : tuned;
    },
  });
}

/** Training, linear nodes: how the weight gradient's product runs (undefined for other nodes). */
export function weightGradientOf(node: PlanNode): LinearVariant | undefined {
  return node.kind === 'linear' ? node.weightGradient : undefined;
}

/** A node's tiles by role, as numbers by name (for printing and tuning). */
export function tilesByRole(node: PlanNode): { role: TileRole; values: Record<string, number> }[] {
  const tiles: object = node.tiles;
  const out: { role: TileRole; values: Record<string, number> }[] = [];
  for (const [role, config] of Object.entries(tiles)) {
    const value: unknown = config;
    if (!isTileRole(role) || typeof value !== 'object' || value === null) continue;
    out.push({ role, values: Object.fromEntries(Object.entries(value).filter(([, v]) => typeof v === 'number')) });
  }
  return out;
}

const TILE_ROLES: readonly TileRole[] = ['forward', 'backwardWeight', 'backwardInput'];
const isTileRole = (role: string): role is TileRole => TILE_ROLES.some((r) => r === role);

/** The plan as text: one line per node, for `train --plan`, `eval --plan` and bench/eval-profile.ts. */
export function formatPlan(plan: ExecutionPlan): string {
  const tiles = (t: Record<string, number>) => Object.entries(t).map(([k, v]) => `${k}=${v}`).join(' ');
  const lines = [
    `plan for ${plan.model}: ${plan.training ? 'training' : 'forward-only'}, batches up to ${plan.maxBatch}, ` +
    `${plan.device.kind} (${plan.device.adapter}); weights packed ${plan.weights}`,
    `  input      ${
      plan.input === 'into-packed'
        ? "pixels normalized into the first node's packed input"
        : 'pixels normalized into a buffer'
    }`,
  ];
  for (const node of plan.nodes) {
    const extras = [
      node.relu ? '+relu' : '',
      weightGradientOf(node) ? `weight-gradient ${weightGradientOf(node)}` : '',
      node.reluBackward ? `relu-backward ${node.reluBackward}` : '',
    ].filter(Boolean).join(', ');
    lines.push(
      `  ${node.name.padEnd(10)} ${node.kind.padEnd(9)} ${node.variant.padEnd(13)} ${node.reads} -> ${node.writes}` +
        (extras ? `  (${extras})` : ''),
    );
    for (const { role, values } of tilesByRole(node)) lines.push(`  ${''.padEnd(10)}   ${role}: ${tiles(values)}`);
  }
  return lines.join('\n');
}

// --- helpers --------------------------------------------------------------------------------------

/** What reads each layout but a buffer, for the error of a plan whose writer of it has no such reader. */
const READERS: Record<Exclude<Layout, 'nchw'>, string> = {
  packed: 'a packed matrix, which only a linear layer from textures reads',
  'channels-last': 'channels-last, which only an implicit-GEMM convolution reads',
  none: 'nothing',
};

interface SkeletonNode {
  name: string;
  kind: LayerKind;
  layer: number;
  relu: boolean;
  resolved: ResolvedLayer;
}

/** The nodes a model runs as: a kind that absorbs a ReLU (conv2d, linear, batch norm) takes the one right after it. */
function nodesOf(model: ModelSpec): SkeletonNode[] {
  const layers = resolveLayers(model);
  const nodes: SkeletonNode[] = [];
  for (let i = 0; i < layers.length; i++) {
    const spec = layers[i].spec;
    const next = layers[i + 1]?.spec.kind;
    const relu = layerDefinition(spec.kind).absorbsRelu && next !== undefined && planningOf(next).outputIsRelu === true;
    nodes.push({
      name: layers[i].name,
      kind: spec.kind,
      layer: i,
      relu,
      resolved: layers[i],
    });
    if (relu) i++;
  }
  return nodes;
}

function planningOf(kind: LayerKind): LayerPlanning<LayerSpec> {
  return layerDefinition(kind).planning;
}

function variantsOf(kind: LayerKind): readonly Variant[] {
  return layerDefinition(kind).variants;
}

/** Every variant of a kind, for tests that enumerate plans. */
export const variantsOfKind = variantsOf;

function defaultVariant(kind: LayerKind): Variant {
  return variantsOf(kind)[0];
}

/** A view (flatten) passes its input through: it is no node's producer or consumer. */
function isView(kind: LayerKind): boolean {
  return variantsOf(kind).every((v) => v === 'view');
}

/** [reads, writes] of a variant, given what the node before writes. */
function layoutsOf(kind: LayerKind, variant: Variant, previous: Layout, first: boolean): [Layout, Layout] {
  return planningOf(kind).layouts?.(variant, previous, first) ?? ['nchw', 'nchw'];
}

/** The index of the node that reads node i's output, through a view (maybe past the end). */
export function consumerIndex(nodes: readonly { kind: LayerKind }[], i: number): number {
  return nodes[i + 1] && isView(nodes[i + 1].kind) ? i + 2 : i + 1;
}

/** The index of the node whose output node i reads, through a view (maybe -1). */
export function producerIndex(nodes: readonly { kind: LayerKind }[], i: number): number {
  return nodes[i - 1] && isView(nodes[i - 1].kind) ? i - 2 : i - 1;
}

function consumerOf<T extends { kind: LayerKind }>(nodes: readonly T[], i: number): T | undefined {
  return nodes[consumerIndex(nodes, i)];
}

function producesRelu(node: { kind: LayerKind; relu: boolean }): boolean {
  return node.relu || planningOf(node.kind).outputIsRelu === true;
}

/** A consumer that applies the backward of the ReLU that produced its input (linear, max-pool) spares it a pass. */
function reluBackwardFusable(nodes: readonly { kind: LayerKind; relu: boolean }[], i: number): boolean {
  const consumer = consumerOf(nodes, i);
  return producesRelu(nodes[i]) && consumer !== undefined && planningOf(consumer.kind).appliesReluBackward === true;
}
