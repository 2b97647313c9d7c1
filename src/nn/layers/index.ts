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
import { avgpool2d, type AvgPool2dLayer } from './avgpool2d.ts';
import { batchnorm1d, type BatchNorm1dLayer, batchnorm2d, type BatchNorm2dLayer } from './batchnorm.ts';
import { conv2d, type Conv2dLayer } from './conv2d.ts';
import { dropout, type DropoutLayer } from './dropout.ts';
import { flatten, type FlattenLayer } from './flatten.ts';
import { linear, type LinearLayer } from './linear.ts';
import { maxpool2d, type MaxPool2dLayer } from './maxpool2d.ts';
import { relu, type ReluLayer } from './relu.ts';
import type { LayerDefinition } from './types.ts';
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

/** In the order the docs list them. */
const LAYERS: { readonly [K in LayerKind]: LayerDefinition<Extract<LayerSpec, { kind: K }>> } = {
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
export function layerDefinition(kind: LayerKind): LayerDefinition<LayerSpec> {
  if (!isLayerKind(kind)) throw new Error(`no layer kind "${String(kind)}" (${LAYER_KINDS.join(', ')})`);
  return LAYERS[kind];
}

export type {
  Allocations,
  Field,
  LayerDefinition,
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
