// Models are plain descriptions: a list of layers. Everything else (parameter shapes, activation
// shapes, GPU buffers, kernels) is derived from the description, so a new model needs no new kernel
// and no new training loop.

import { layerDefinition, type LayerSpec } from './layers/index.ts';
import { shapeSize } from '../util/shapes.ts';

/** A layer of a model: one of the kinds of src/nn/layers/ (index.ts lists them). */
export type { LayerKind, LayerSpec } from './layers/index.ts';

export interface ModelSpec {
  name: string;
  /** Per-sample input shape [channels, height, width]. */
  input: [number, number, number];
  classes: number;
  layers: LayerSpec[];
}

/** The reference network of the PyTorch MNIST tutorial this project reproduces. */
export const DIGIT: ModelSpec = {
  name: 'digit',
  input: [1, 28, 28],
  classes: 10,
  layers: [
    { kind: 'conv2d', name: 'conv1', outChannels: 10, kernel: 5 },
    { kind: 'relu' },
    { kind: 'maxpool2d', kernel: 2 },
    { kind: 'conv2d', name: 'conv2', outChannels: 20, kernel: 3 },
    { kind: 'relu' },
    { kind: 'flatten' },
    { kind: 'linear', name: 'fc1', outFeatures: 500 },
    { kind: 'relu' },
    { kind: 'linear', name: 'fc2', outFeatures: 10 },
  ],
};

const convBn = (name: string, outChannels: number, padding = 1): LayerSpec[] => [
  { kind: 'conv2d', name, outChannels, kernel: 3, padding },
  { kind: 'batchnorm2d', name: `${name}_bn` },
  { kind: 'relu' },
];

/**
 * One epoch to 99 %: small 3x3 convolutions with batch norm (which lets a one-cycle schedule use a
 * high learning rate), two poolings, a batch-normed hidden layer with dropout.
 * Trained by default with RECIPES' `fast`: one epoch, `--schedule onecycle --lr 0.005`.
 */
export const FAST: ModelSpec = {
  name: 'fast',
  input: [1, 28, 28],
  classes: 10,
  layers: [
    ...convBn('conv1', 16),
    { kind: 'maxpool2d', kernel: 2 },
    ...convBn('conv2', 32),
    { kind: 'maxpool2d', kernel: 2 },
    { kind: 'flatten' },
    { kind: 'linear', name: 'fc1', outFeatures: 128 },
    { kind: 'batchnorm1d', name: 'fc1_bn' },
    { kind: 'relu' },
    { kind: 'dropout', p: 0.25 },
    { kind: 'linear', name: 'fc2', outFeatures: 10 },
  ],
};

/**
 * For 99.6 %+ with augmentation in a few epochs: An et al.'s M5 idea (a stack of unpadded
 * convolutions, each with batch norm, no pooling until the end), widened in steps, then global
 * average pooling. Trained by default with RECIPES' `best`: `--augment --schedule onecycle --lr 0.003 --epochs 6`.
 */
export const BEST: ModelSpec = {
  name: 'best',
  input: [1, 28, 28],
  classes: 10,
  layers: [
    ...convBn('conv1', 32, 0),
    ...convBn('conv2', 48, 0),
    { kind: 'maxpool2d', kernel: 2 },
    ...convBn('conv3', 64, 0),
    ...convBn('conv4', 96, 0),
    { kind: 'maxpool2d', kernel: 2 },
    ...convBn('conv5', 128, 0),
    { kind: 'avgpool2d' },
    { kind: 'flatten' },
    { kind: 'dropout', p: 0.2 },
    { kind: 'linear', name: 'fc', outFeatures: 10 },
    { kind: 'batchnorm1d', name: 'fc_bn' },
  ],
};

/** What a preset trains with where the command line does not say (the CLI's train, and mod.ts's). */
export interface TrainingRecipe {
  epochs?: number;
  lr?: number;
  schedule?: 'constant' | 'step' | 'cosine' | 'onecycle';
  augment?: boolean;
}

/**
 * The presets' recipes: `fast` is a one-epoch run (one-cycle to a high rate, which batch norm allows),
 * `best` a 6-epoch run with augmentation, sized for half an hour on a 2-core CPU driver (20 epochs took
 * hours); PyTorch reaches 99.66-99.68 % with it (seeds 1-3, bench/RESULTS.md). `digit` has none: the
 * tutorial's settings are the defaults.
 */
export const RECIPES: ReadonlyMap<string, TrainingRecipe> = new Map<string, TrainingRecipe>([
  ['fast', { epochs: 1, lr: 0.005, schedule: 'onecycle' }],
  ['best', { epochs: 6, lr: 0.003, schedule: 'onecycle', augment: true }],
]);

/** A Map, not an object: "toString" or "__proto__" must not find something that is not a model. */
export const MODELS: ReadonlyMap<string, ModelSpec> = new Map([['digit', DIGIT], ['fast', FAST], ['best', BEST]]);

export function getModel(name: string): ModelSpec {
  const spec = MODELS.get(name);
  if (!spec) throw new Error(`Unknown model "${name}"; known models: ${[...MODELS.keys()].join(', ')}`);
  return spec;
}

export interface ParameterSpec {
  /** PyTorch state_dict name, e.g. "conv1.weight". */
  name: string;
  shape: number[];
  /** Fan-in used by PyTorch's default initialisation. */
  fanIn: number;
  /** How it starts: PyTorch's U(±1/√fanIn) (default), or all ones or zeros (batch norm). */
  init?: 'uniform' | 'ones' | 'zeros';
  /** A buffer (running statistics): saved and restored, never touched by the optimizer. */
  buffer?: boolean;
}

/** A layer with its input and output shapes resolved (per sample, without the batch dimension). */
export interface ResolvedLayer {
  spec: LayerSpec;
  /** Unique in its model: the layer's own name (conv1, fc1), else its kind and ordinal (maxpool2d#1, maxpool2d#2). */
  name: string;
  inShape: number[];
  outShape: number[];
  params: ParameterSpec[];
}

export { shapeSize };

/** Each layer's shapes and parameters, as its kind's definition (src/nn/layers/) resolves them. */
export function resolveLayers(model: ModelSpec): ResolvedLayer[] {
  let shape: number[] = [...model.input];
  const out: ResolvedLayer[] = [];
  const seen = new Map<string, number>();
  for (const [index, spec] of model.layers.entries()) {
    const where = `${model.name} layer ${index} (${spec.kind})`;
    const { outShape, params } = layerDefinition(spec.kind).resolve(spec, shape, where);
    const ordinal = (seen.get(spec.kind) ?? 0) + 1;
    seen.set(spec.kind, ordinal);
    out.push({ spec, name: 'name' in spec ? spec.name : `${spec.kind}#${ordinal}`, inShape: shape, outShape, params });
    shape = outShape;
  }
  if (shape.length !== 1 || shape[0] !== model.classes) {
    throw new Error(`${model.name}: the last layer must output [${model.classes}] class scores, got [${shape}]`);
  }
  return out;
}

export function parameterSpecs(model: ModelSpec): ParameterSpec[] {
  return resolveLayers(model).flatMap((layer) => layer.params);
}
