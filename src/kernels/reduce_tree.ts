// Dispatches shaders/reduce_tree.wgsl (or, where the device has `subgroups` and the caller asks,
// reduce_tree_subgroups.wgsl): sums over the outer and inner axes of [outer, J, inner], one workgroup
// per output, in a fixed tree order. The GPU-class variants' bias gradients and split-K sums.
import type { Gpu } from '../gpu/device.ts';
import { type BufferArg, type Dispatch, getKernel } from '../gpu/kernel.ts';
import { checkIntegers, checkSize, grid } from './checks.ts';

export interface ReduceShape {
  outer: number;
  /** Outputs. */
  j: number;
  inner?: number;
}

export const MAX_REDUCE_WORKGROUP = 256;

/** The smallest power of two >= the values each output sums, at most 256 (a workgroup per output). */
export function reduceWorkgroup(count: number): number {
  let wg = 1;
  while (wg < count && wg < MAX_REDUCE_WORKGROUP) wg *= 2;
  return wg;
}

/** out[j] = sum of x[o, j, i] over o and i. One dispatch; `subgroups` only where the device has the feature. */
export async function reduceTree(
  gpu: Gpu,
  shape: ReduceShape,
  x: BufferArg,
  out: BufferArg,
  options: { subgroups?: boolean; workgroup?: number } = {},
): Promise<Dispatch> {
  const inner = shape.inner ?? 1;
  checkIntegers('reduceTree', { outer: shape.outer, j: shape.j, inner });
  const wg = options.workgroup ?? reduceWorkgroup(shape.outer * inner);
  if (!Number.isInteger(Math.log2(wg)) || wg > MAX_REDUCE_WORKGROUP) {
    throw new RangeError(`reduceTree: workgroup must be a power of two up to ${MAX_REDUCE_WORKGROUP}, got ${wg}`);
  }
  checkSize('reduceTree', 'x', x, shape.outer * shape.j * inner);
  checkSize('reduceTree', 'out', out, shape.j);
  const subgroups = options.subgroups === true && gpu.features.has('subgroups');
  const kernel = await getKernel(gpu, {
    shader: subgroups ? 'reduce_tree_subgroups' : 'reduce_tree',
    bindings: ['read', 'read_write'],
    constants: { OUTER: shape.outer, J: shape.j, INNER: inner, WG: wg },
  });
  return { kernel, bindGroup: kernel.bind(gpu, [x, out]), workgroups: grid('reduceTree', shape.j) };
}
