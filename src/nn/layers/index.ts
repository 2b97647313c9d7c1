// Every layer kind, each defined once in its own module: kind -> definition. The spec, model files,
// planner, reference network and ONNX exporter read this table; a kind is added by its module, its line
// in `Kinds` (its layer and plan node types) and its line in the table (a kind missing from either, or a
// definition missing a piece, does not compile).
import {
  gelu,
  type GeluLayer,
  leakyrelu,
  type LeakyReluLayer,
  sigmoid,
  type SigmoidLayer,
  silu,
  type SiluLayer,
  tanh,
  type TanhLayer,
} from './activation.ts';
import { avgpool2d, type AvgPool2dLayer, type AvgPool2dNode } from './avgpool2d.ts';
import { batchnorm1d, type BatchNorm1dLayer, batchnorm2d, type BatchNorm2dLayer } from './batchnorm.ts';
import { conv2d, type Conv2dLayer, type Conv2dNode } from './conv2d.ts';
import { dropout, type DropoutLayer, type DropoutNode } from './dropout.ts';
import { flatten, type FlattenLayer, type FlattenNode } from './flatten.ts';
import { linear, type LinearLayer, type LinearNode } from './linear.ts';
import { maxpool2d, type MaxPool2dLayer, type MaxPool2dNode } from './maxpool2d.ts';
import { relu, type ReluLayer, type ReluNode } from './relu.ts';
import type { LayerDefinition, UntiledNode } from './types.ts';
export { LAYER_INPUT, onBuffers, typedTiles } from './types.ts';

/**
 * Each kind's model-file layer and plan node (its variants, each with the tiles its kernels take); its
 * module declares both.
 */
interface Kinds {
  conv2d: { spec: Conv2dLayer; node: Conv2dNode };
  relu: { spec: ReluLayer; node: ReluNode };
  maxpool2d: { spec: MaxPool2dLayer; node: MaxPool2dNode };
  flatten: { spec: FlattenLayer; node: FlattenNode };
  linear: { spec: LinearLayer; node: LinearNode };
  batchnorm2d: { spec: BatchNorm2dLayer; node: UntiledNode<'batchnorm2d', 'buffer'> };
  batchnorm1d: { spec: BatchNorm1dLayer; node: UntiledNode<'batchnorm1d', 'buffer'> };
  dropout: { spec: DropoutLayer; node: DropoutNode };
  avgpool2d: { spec: AvgPool2dLayer; node: AvgPool2dNode };
  gelu: { spec: GeluLayer; node: UntiledNode<'gelu', 'buffer'> };
  silu: { spec: SiluLayer; node: UntiledNode<'silu', 'buffer'> };
  leakyrelu: { spec: LeakyReluLayer; node: UntiledNode<'leakyrelu', 'buffer'> };
  tanh: { spec: TanhLayer; node: UntiledNode<'tanh', 'buffer'> };
  sigmoid: { spec: SigmoidLayer; node: UntiledNode<'sigmoid', 'buffer'> };
}

export type LayerKind = keyof Kinds;

export type LayerSpec = Kinds[LayerKind]['spec'];

/** A node of an execution plan (planner.ts): by kind, then by variant where their tiles differ. */
export type PlanNode = Kinds[LayerKind]['node'];

/** The plan node of one kind. */
export type PlanNodeOf<K extends LayerKind> = Kinds[K]['node'];

/** Whether `node` is of `kind` (its variant and tiles then typed as that kind's). */
export function isNodeOf<K extends LayerKind>(node: PlanNode, kind: K): node is PlanNodeOf<K> {
  return node.kind === kind;
}

/** In the order the docs list them. */
const LAYERS: { readonly [K in LayerKind]: LayerDefinition<Kinds[K]['spec'], Kinds[K]['node']> & { kind: K } } = {
  conv2d,
  relu,
  maxpool2d,
  avgpool2d,
  flatten,
  linear,
  batchnorm2d,
  batchnorm1d,
  dropout,
  gelu,
  silu,
  leakyrelu,
  tanh,
  sigmoid,
};

/** Every kind, in the docs' order. */
export const LAYER_KINDS: readonly LayerKind[] = Object.keys(LAYERS).filter(isLayerKind);

export function isLayerKind(kind: unknown): kind is LayerKind {
  return typeof kind === 'string' && Object.hasOwn(LAYERS, kind);
}

/** The definition of `kind`; throws naming it if there is none (a model built from unchecked JSON). */
export function layerDefinition(kind: LayerKind): LayerDefinition<LayerSpec, PlanNode> {
  if (!isLayerKind(kind)) throw new Error(`no layer kind "${String(kind)}" (${LAYER_KINDS.join(', ')})`);
  return LAYERS[kind];
}

export type {
  Allocations,
  DraftNode,
  Field,
  LayerDefinition,
  NodeCommon,
  NodeState,
  OnnxAttribute,
  OnnxNode,
  Op,
  OpRole,
  RecordContext,
  ReferenceContext,
  ReferenceForward,
  Resolved,
  Tensor,
  TileRole,
  TileSite,
  Value,
} from './types.ts';
