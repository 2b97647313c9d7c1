// Models are plain descriptions: a list of layers. Everything else (parameter shapes, activation
// shapes, GPU buffers, kernels) is derived from the description, so a new model needs no new kernel
// and no new training loop.

import { conv2dOutputSize, maxPool2dOutputSize } from '../util/shapes.ts';

export type LayerSpec =
  | { kind: 'conv2d'; name: string; outChannels: number; kernel: number; stride?: number; padding?: number }
  | { kind: 'relu' }
  | { kind: 'maxpool2d'; kernel: number; stride?: number }
  | { kind: 'flatten' }
  | { kind: 'linear'; name: string; outFeatures: number };

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

/** A Map, not an object: "toString" or "__proto__" must not find something that is not a model. */
export const MODELS: ReadonlyMap<string, ModelSpec> = new Map([['digit', DIGIT]]);

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
        const { outH: oh, outW: ow } = conv2dOutputSize({ batch: 1, inChannels: c, height: h, width: w, outChannels: spec.outChannels,
          kernelH: spec.kernel, kernelW: spec.kernel, stride: spec.stride, padding: spec.padding });
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
        const { outH: oh, outW: ow } = maxPool2dOutputSize({ batch: 1, channels: c, height: h, width: w, kernel: spec.kernel, stride: spec.stride });
        if (oh < 1 || ow < 1) throw new Error(`${where}: pool ${spec.kernel} does not fit a ${h}x${w} input`);
        shape = [c, oh, ow];
        break;
      }
      case 'relu':
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
