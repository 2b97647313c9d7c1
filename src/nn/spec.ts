// Models are plain descriptions: a list of layers. Everything else (parameter shapes, activation
// shapes, GPU buffers, kernels) is derived from the description, so a new model needs no new kernel
// and no new training loop.

import { avgPool2dOutputSize, conv2dOutputSize, maxPool2dOutputSize } from '../util/shapes.ts';

export type LayerSpec =
  | { kind: 'conv2d'; name: string; outChannels: number; kernel: number; stride?: number; padding?: number }
  | { kind: 'relu' }
  | { kind: 'maxpool2d'; kernel: number; stride?: number }
  | { kind: 'flatten' }
  | { kind: 'linear'; name: string; outFeatures: number }
  /** PyTorch's BatchNorm2d / BatchNorm1d (affine, tracking running statistics; defaults eps 1e-5, momentum 0.1). */
  | { kind: 'batchnorm2d'; name: string; eps?: number; momentum?: number }
  | { kind: 'batchnorm1d'; name: string; eps?: number; momentum?: number }
  /** nn.Dropout(p): training only. */
  | { kind: 'dropout'; p: number }
  /** nn.AvgPool2d(kernel, stride); without a kernel, global average pooling over the whole plane (output [C, 1, 1]). */
  | { kind: 'avgpool2d'; kernel?: number; stride?: number };

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
 * For 99.6 %+ with augmentation over up to 20 epochs: An et al.'s M5 idea (a stack of unpadded
 * convolutions, each with batch norm, no pooling until the end), widened in steps, then global
 * average pooling. Trained by default with RECIPES' `best`: `--augment --schedule onecycle --lr 0.003 --epochs 20`.
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
 * `best` a 20-epoch run with augmentation. `digit` has none: the tutorial's settings are the defaults.
 */
export const RECIPES: ReadonlyMap<string, TrainingRecipe> = new Map<string, TrainingRecipe>([
  ['fast', { epochs: 1, lr: 0.005, schedule: 'onecycle' }],
  ['best', { epochs: 20, lr: 0.003, schedule: 'onecycle', augment: true }],
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
  inShape: number[];
  outShape: number[];
  params: ParameterSpec[];
}

const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
export { product as shapeSize };

export function resolveLayers(model: ModelSpec): ResolvedLayer[] {
  let shape: number[] = [...model.input];
  const out: ResolvedLayer[] = [];
  for (const [index, spec] of model.layers.entries()) {
    const where = `${model.name} layer ${index} (${spec.kind})`;
    const inShape = shape;
    let params: ParameterSpec[] = [];
    switch (spec.kind) {
      case 'conv2d': {
        if (inShape.length !== 3) throw new Error(`${where}: conv2d needs a [C,H,W] input, got [${inShape}]`);
        const [c, h, w] = inShape;
        const { outH: oh, outW: ow } = conv2dOutputSize({
          batch: 1,
          inChannels: c,
          height: h,
          width: w,
          outChannels: spec.outChannels,
          kernelH: spec.kernel,
          kernelW: spec.kernel,
          stride: spec.stride,
          padding: spec.padding,
        });
        if (oh < 1 || ow < 1) throw new Error(`${where}: kernel ${spec.kernel} does not fit a ${h}x${w} input`);
        shape = [spec.outChannels, oh, ow];
        const fanIn = c * spec.kernel * spec.kernel;
        params = [
          { name: `${spec.name}.weight`, shape: [spec.outChannels, c, spec.kernel, spec.kernel], fanIn },
          { name: `${spec.name}.bias`, shape: [spec.outChannels], fanIn },
        ];
        break;
      }
      case 'maxpool2d': {
        if (inShape.length !== 3) throw new Error(`${where}: maxpool2d needs a [C,H,W] input, got [${inShape}]`);
        const [c, h, w] = inShape;
        const { outH: oh, outW: ow } = maxPool2dOutputSize({
          batch: 1,
          channels: c,
          height: h,
          width: w,
          kernel: spec.kernel,
          stride: spec.stride,
        });
        if (oh < 1 || ow < 1) throw new Error(`${where}: pool ${spec.kernel} does not fit a ${h}x${w} input`);
        shape = [c, oh, ow];
        break;
      }
      case 'batchnorm2d':
      case 'batchnorm1d': {
        const wants = spec.kind === 'batchnorm2d' ? 3 : 1;
        if (inShape.length !== wants) {
          throw new Error(
            `${where}: ${spec.kind} needs a ${wants === 3 ? '[C,H,W]' : 'flat [features]'} input, got [${inShape}]`,
          );
        }
        const c = inShape[0];
        const buffer = (name: string, shape: number[], init: 'ones' | 'zeros'): ParameterSpec => ({
          name: `${spec.name}.${name}`,
          shape,
          fanIn: 1,
          init,
          buffer: true,
        });
        params = [
          { name: `${spec.name}.weight`, shape: [c], fanIn: 1, init: 'ones' },
          { name: `${spec.name}.bias`, shape: [c], fanIn: 1, init: 'zeros' },
          buffer('running_mean', [c], 'zeros'),
          buffer('running_var', [c], 'ones'),
          buffer('num_batches_tracked', [], 'zeros'),
        ];
        break;
      }
      case 'avgpool2d': {
        if (inShape.length !== 3) throw new Error(`${where}: avgpool2d needs a [C,H,W] input, got [${inShape}]`);
        const [c, h, w] = inShape;
        if (spec.kernel === undefined && h !== w) {
          throw new Error(`${where}: global average pooling needs a square input, got ${h}x${w}`);
        }
        const kernel = spec.kernel ?? h;
        const { outH: oh, outW: ow } = avgPool2dOutputSize({
          batch: 1,
          channels: c,
          height: h,
          width: w,
          kernel,
          stride: spec.stride ?? kernel,
        });
        if (oh < 1 || ow < 1) throw new Error(`${where}: pool ${kernel} does not fit a ${h}x${w} input`);
        shape = [c, oh, ow];
        break;
      }
      case 'relu':
      case 'dropout':
        break;
      case 'flatten':
        shape = [product(inShape)];
        break;
      case 'linear': {
        if (inShape.length !== 1) throw new Error(`${where}: linear needs a flat input; add a flatten layer before it`);
        shape = [spec.outFeatures];
        params = [
          { name: `${spec.name}.weight`, shape: [spec.outFeatures, inShape[0]], fanIn: inShape[0] },
          { name: `${spec.name}.bias`, shape: [spec.outFeatures], fanIn: inShape[0] },
        ];
        break;
      }
    }
    out.push({ spec, inShape, outShape: shape, params });
  }
  if (shape.length !== 1 || shape[0] !== model.classes) {
    throw new Error(`${model.name}: the last layer must output [${model.classes}] class scores, got [${shape}]`);
  }
  return out;
}

export function parameterSpecs(model: ModelSpec): ParameterSpec[] {
  return resolveLayers(model).flatMap((layer) => layer.params);
}
