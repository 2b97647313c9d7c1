// Every layer kind, each defined once in its own module: kind -> definition. The spec, model files,
// planner, reference network and ONNX exporter read this table; a kind is added by its module and one
// line here (a kind missing from the table, or a definition missing a piece, does not compile).
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

export type LayerSpec =
  | Conv2dLayer
  | ReluLayer
  | MaxPool2dLayer
  | FlattenLayer
  | LinearLayer
  | BatchNorm2dLayer
  | BatchNorm1dLayer
  | DropoutLayer
  | AvgPool2dLayer
  | GeluLayer
  | SiluLayer
  | LeakyReluLayer
  | TanhLayer
  | SigmoidLayer;

export type LayerKind = LayerSpec['kind'];

/** Each kind's plan node: its variants, each with the tiles its kernels take (its module says which). */
interface LayerNodes {
  conv2d: Conv2dNode;
  relu: ReluNode;
  maxpool2d: MaxPool2dNode;
  avgpool2d: AvgPool2dNode;
  flatten: FlattenNode;
  linear: LinearNode;
  batchnorm2d: UntiledNode<'batchnorm2d', 'buffer'>;
  batchnorm1d: UntiledNode<'batchnorm1d', 'buffer'>;
  dropout: DropoutNode;
  gelu: UntiledNode<'gelu', 'buffer'>;
  silu: UntiledNode<'silu', 'buffer'>;
  leakyrelu: UntiledNode<'leakyrelu', 'buffer'>;
  tanh: UntiledNode<'tanh', 'buffer'>;
  sigmoid: UntiledNode<'sigmoid', 'buffer'>;
}

/** A node of an execution plan (planner.ts): by kind, then by variant where their tiles differ. */
export type PlanNode = LayerNodes[LayerKind];

/** The plan node of one kind. */
export type PlanNodeOf<K extends LayerKind> = LayerNodes[K];

/** Whether `node` is of `kind` (its variant and tiles then typed as that kind's). */
export function isNodeOf<K extends LayerKind>(node: PlanNode, kind: K): node is PlanNodeOf<K> {
  return node.kind === kind;
}

/** In the order the docs list them. */
const LAYERS: { readonly [K in LayerKind]: LayerDefinition<Extract<LayerSpec, { kind: K }>, LayerNodes[K]> } = {
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
export const LAYER_KINDS: readonly LayerKind[] = Object.keys(LAYERS) as LayerKind[];

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
