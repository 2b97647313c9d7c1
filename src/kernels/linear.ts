// The linear (fully connected) layer in PyTorch's layout: x [batch, in], W [out, in], b [out],
// y = x·Wᵀ + b. Forward and both weight products run on shaders/matmul.wgsl, or, given textures to
// pack the operands into, the forward and the weight gradient on shaders/matmul_texture.wgsl (faster
// on lavapipe where the packing pays; src/nn/planner.ts decides). The bias gradient is a column sum
// (shaders/bias_grad.wgsl, dispatched here). Backward kernels overwrite their outputs.
import type { Gpu } from '../gpu/device.ts';
import { type BufferArg, type Dispatch, getKernel } from '../gpu/kernel.ts';
import { ceilDiv, type LinearShape } from '../util/shapes.ts';
import { checkIntegers, grid } from './checks.ts';
import { type PackedMatrix, packMatrix } from './layout.ts';
import { matmul, type MatmulTiles } from './matmul.ts';
import { matmulTexture } from './matmul_texture.ts';

export type { LinearShape };

function checkShape(shape: LinearShape): void {
  checkIntegers('linear', { batch: shape.batch, inFeatures: shape.inFeatures, outFeatures: shape.outFeatures });
}

/** Textures of a linear forward from textures; `prepacked` names those already filled by other work. */
export interface LinearForwardTextures {
  input: PackedMatrix;
  weight: PackedMatrix;
  /** `input`: the layer before wrote it (conv2dForwardImplicitGemm); `weight`: packed once, after an upload. */
  prepacked?: { input?: boolean; weight?: boolean };
}

/**
 * output[batch, out] = input·Wᵀ + bias, then max(0, .) when relu. With `packed` (textures for at least
 * batch x in and out x in), up to three dispatches: input and W are packed unless prepacked, then
 * multiplied from textures.
 */
export async function linearForward(
  gpu: Gpu,
  shape: LinearShape,
  options: { relu?: boolean; tiles?: MatmulTiles; packed?: LinearForwardTextures },
  input: BufferArg,
  weight: BufferArg,
  bias: BufferArg,
  output: BufferArg,
): Promise<Dispatch[]> {
  checkShape(shape);
  const { batch, inFeatures, outFeatures } = shape;
  const { packed } = options;
  if (!packed) {
    return matmul(
      gpu,
      { m: batch, n: outFeatures, k: inFeatures, transposeB: true },
      { bias, relu: options.relu, tiles: options.tiles },
      input,
      weight,
      output,
    );
  }
  return [
    ...(packed.prepacked?.input ? [] : [await packMatrix(gpu, { rows: batch, k: inFeatures }, input, packed.input)]),
    ...(packed.prepacked?.weight ? [] : [await packLinearWeight(gpu, shape, weight, packed.weight)]),
    ...(await matmulTexture(
      gpu,
      { m: batch, n: outFeatures, k: inFeatures },
      { bias, relu: options.relu, tiles: options.tiles },
      packed.input,
      packed.weight,
      output,
    )),
  ];
}

/** Packs W [out, in] for linearForward from textures (once per upload, for forward-only networks). */
export function packLinearWeight(
  gpu: Gpu,
  shape: LinearShape,
  weight: BufferArg,
  packed: PackedMatrix,
): Promise<Dispatch> {
  return packMatrix(gpu, { rows: shape.outFeatures, k: shape.inFeatures }, weight, packed);
}

/**
 * gradInput[batch, in] = gradOutput·W, with gradOutput [batch, out] w.r.t. the pre-activation output. With
 * `reluOutput` (this layer's input, when a ReLU produced it) that ReLU's backward is applied too.
 */
export async function linearBackwardInput(
  gpu: Gpu,
  shape: LinearShape,
  gradOutput: BufferArg,
  weight: BufferArg,
  gradInput: BufferArg,
  options: { reluOutput?: BufferArg; tiles?: MatmulTiles } = {},
): Promise<Dispatch[]> {
  checkShape(shape);
  const { batch, inFeatures, outFeatures } = shape;
  return matmul(
    gpu,
    { m: batch, n: inFeatures, k: outFeatures },
    { reluMask: options.reluOutput, tiles: options.tiles },
    gradOutput,
    weight,
    gradInput,
  );
}

/**
 * gradWeight[out, in] = gradOutputᵀ·input and gradBias[out] = column sums of gradOutput. With `packed`
 * (textures for at least out x batch and in x batch), gradOutputᵀ and inputᵀ are packed and the product
 * runs from textures: four dispatches instead of two.
 */
export async function linearBackwardWeight(
  gpu: Gpu,
  shape: LinearShape,
  input: BufferArg,
  gradOutput: BufferArg,
  gradWeight: BufferArg,
  gradBias: BufferArg,
  options: { packed?: { gradOutputT: PackedMatrix; inputT: PackedMatrix }; tiles?: MatmulTiles } = {},
): Promise<Dispatch[]> {
  checkShape(shape);
  const { batch, inFeatures, outFeatures } = shape;
  const { packed } = options;
  const weightProduct = packed
    ? [
      await packMatrix(gpu, { rows: outFeatures, k: batch, transpose: true }, gradOutput, packed.gradOutputT),
      await packMatrix(gpu, { rows: inFeatures, k: batch, transpose: true }, input, packed.inputT),
      ...(await matmulTexture(
        gpu,
        { m: outFeatures, n: inFeatures, k: batch },
        { tiles: options.tiles },
        packed.gradOutputT,
        packed.inputT,
        gradWeight,
      )),
    ]
    : await matmul(
      gpu,
      { m: outFeatures, n: inFeatures, k: batch, transposeA: true },
      { tiles: options.tiles },
      gradOutput,
      input,
      gradWeight,
    );
  return [...weightProduct, await biasGrad(gpu, batch, outFeatures, gradOutput, gradBias)];
}

const BIAS_GRAD_WORKGROUP = 64;

/** gradBias[j] = sum of column j of gradOutput [rows, columns]. */
async function biasGrad(
  gpu: Gpu,
  rows: number,
  columns: number,
  gradOutput: BufferArg,
  gradBias: BufferArg,
): Promise<Dispatch> {
  const kernel = await getKernel(gpu, {
    shader: 'bias_grad',
    bindings: ['read', 'read_write'],
    constants: { ROWS: rows, COLS: columns, WG: BIAS_GRAD_WORKGROUP },
  });
  return {
    kernel,
    bindGroup: kernel.bind(gpu, [gradOutput, gradBias]),
    workgroups: grid('biasGrad', ceilDiv(columns, BIAS_GRAD_WORKGROUP)),
  };
}
