// The linear (fully connected) layer in PyTorch's layout: x [batch, in], W [out, in], b [out],
// y = x·Wᵀ + b. Forward and both weight products run on shaders/matmul.wgsl; the bias gradient is a
// column sum (shaders/bias_grad.wgsl, dispatched here). Backward kernels overwrite their outputs.
import type { Gpu } from '../gpu/device.ts';
import { ceilDiv, getKernel, workgroupGrid, type BufferArg, type Dispatch } from '../gpu/kernel.ts';
import { matmul, type MatmulTiles } from './matmul.ts';

export interface LinearShape {
  batch: number;
  inFeatures: number;
  outFeatures: number;
}

function checkShape(shape: LinearShape): void {
  for (const key of ['batch', 'inFeatures', 'outFeatures'] as const) {
    const value = shape[key];
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`linear: ${key} must be a positive integer, got ${value}`);
  }
}

/** output[batch, out] = input·Wᵀ + bias, then max(0, .) when relu. */
export async function linearForward(
  gpu: Gpu,
  shape: LinearShape,
  options: { relu?: boolean; tiles?: MatmulTiles },
  input: BufferArg,
  weight: BufferArg,
  bias: BufferArg,
  output: BufferArg,
): Promise<Dispatch[]> {
  checkShape(shape);
  const { batch, inFeatures, outFeatures } = shape;
  return matmul(gpu, { m: batch, n: outFeatures, k: inFeatures, transposeB: true },
    { bias, relu: options.relu, tiles: options.tiles }, input, weight, output);
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
  options: { reluOutput?: BufferArg } = {},
): Promise<Dispatch[]> {
  checkShape(shape);
  const { batch, inFeatures, outFeatures } = shape;
  return matmul(gpu, { m: batch, n: inFeatures, k: outFeatures }, { reluMask: options.reluOutput }, gradOutput, weight, gradInput);
}

/** gradWeight[out, in] = gradOutputᵀ·input and gradBias[out] = column sums of gradOutput. */
export async function linearBackwardWeight(
  gpu: Gpu,
  shape: LinearShape,
  input: BufferArg,
  gradOutput: BufferArg,
  gradWeight: BufferArg,
  gradBias: BufferArg,
): Promise<Dispatch[]> {
  checkShape(shape);
  const { batch, inFeatures, outFeatures } = shape;
  const weightProduct = await matmul(gpu, { m: outFeatures, n: inFeatures, k: batch, transposeA: true }, {},
    gradOutput, input, gradWeight);
  return [...weightProduct, await biasGrad(gpu, batch, outFeatures, gradOutput, gradBias)];
}

const BIAS_GRAD_WORKGROUP = 64;

/** gradBias[j] = sum of column j of gradOutput [rows, columns]. */
async function biasGrad(gpu: Gpu, rows: number, columns: number, gradOutput: BufferArg, gradBias: BufferArg): Promise<Dispatch> {
  const kernel = await getKernel(gpu, {
    shader: 'bias_grad',
    bindings: ['read', 'read_write'],
    constants: { ROWS: rows, COLS: columns, WG: BIAS_GRAD_WORKGROUP },
  });
  return {
    kernel,
    bindGroup: kernel.bind(gpu, [gradOutput, gradBias]),
    workgroups: workgroupGrid(ceilDiv(columns, BIAS_GRAD_WORKGROUP)),
  };
}
