// The linear layer (linear.ts's contract: x [batch, in], W [out, in], b [out]) on the GPU-class kernels:
// its three products on shaders/gemm_tiled.wgsl, the bias gradient as a tree reduction
// (shaders/reduce_tree.wgsl). Products agree with linear.ts's bit for bit; the bias gradient sums in
// another order. Backward kernels overwrite their outputs.
import type { Gpu } from '../gpu/device.ts';
import type { BufferArg, Dispatch } from '../gpu/kernel.ts';
import { checkIntegers } from './checks.ts';
import { gemmTiled } from './gemm_tiled.ts';
import type { GemmTiles } from './gemm_tiles.ts';
import { reduceTree } from './reduce_tree.ts';
import type { LinearShape } from '../util/shapes.ts';

const check = (s: LinearShape) =>
  checkIntegers('linear', { batch: s.batch, inFeatures: s.inFeatures, outFeatures: s.outFeatures });

/** output[batch, out] = input·Wᵀ + bias, then max(0, .) when relu. One dispatch. */
export function linearForwardTiled(
  gpu: Gpu,
  shape: LinearShape,
  options: { relu?: boolean; tiles?: GemmTiles },
  input: BufferArg,
  weight: BufferArg,
  bias: BufferArg,
  output: BufferArg,
): Promise<Dispatch[]> {
  check(shape);
  return gemmTiled(
    gpu,
    { m: shape.batch, n: shape.outFeatures, k: shape.inFeatures, transposeB: true },
    { bias, relu: options.relu, tiles: options.tiles },
    input,
    weight,
    output,
  );
}

/** gradInput[batch, in] = gradOutput·W (then the backward of the ReLU that produced the input, given its output). */
export function linearBackwardInputTiled(
  gpu: Gpu,
  shape: LinearShape,
  gradOutput: BufferArg,
  weight: BufferArg,
  gradInput: BufferArg,
  options: { reluOutput?: BufferArg; tiles?: GemmTiles } = {},
): Promise<Dispatch[]> {
  check(shape);
  return gemmTiled(
    gpu,
    { m: shape.batch, n: shape.inFeatures, k: shape.outFeatures },
    { reluMask: options.reluOutput, tiles: options.tiles },
    gradOutput,
    weight,
    gradInput,
  );
}

/** gradWeight[out, in] = gradOutputᵀ·input; gradBias = column sums of gradOutput (tree). Two dispatches. */
export async function linearBackwardWeightTiled(
  gpu: Gpu,
  shape: LinearShape,
  input: BufferArg,
  gradOutput: BufferArg,
  gradWeight: BufferArg,
  gradBias: BufferArg,
  options: { tiles?: GemmTiles; subgroups?: boolean } = {},
): Promise<Dispatch[]> {
  check(shape);
  const { batch, inFeatures, outFeatures } = shape;
  return [
    ...(await gemmTiled(
      gpu,
      { m: outFeatures, n: inFeatures, k: batch, transposeA: true },
      { tiles: options.tiles },
      gradOutput,
      input,
      gradWeight,
    )),
    await reduceTree(gpu, { outer: batch, j: outFeatures }, gradOutput, gradBias, { subgroups: options.subgroups }),
  ];
}
