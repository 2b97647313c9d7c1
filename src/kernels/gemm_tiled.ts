// Dispatches shaders/gemm_tiled.wgsl: C = op(A)·op(B) (+ bias, ReLU, ReLU mask) with workgroup tiles, the
// GPU-class variant of matmul.ts (same operands, options and results bit for bit). Tiles: gemm_tiles.ts.
import type { Gpu } from '../gpu/device.ts';
import { type BufferArg, type Dispatch, getKernel } from '../gpu/kernel.ts';
import type { MatmulShape } from '../util/shapes.ts';
import { checkIntegers, checkSize, grid, placeholderBuffer } from './checks.ts';
import { defaultGemmTiles, gemmTileConstants, type GemmTiles, gemmTilesProblem } from './gemm_tiles.ts';
import type { MatmulOptions } from './matmul.ts';

/** Throws a RangeError naming the problem unless this adapter runs `tiles`. */
export function checkGemmTiles(gpu: Gpu, what: string, tiles: GemmTiles): void {
  const max = Math.min(gpu.limits.maxComputeInvocationsPerWorkgroup, gpu.limits.maxComputeWorkgroupSizeX);
  const problem = gemmTilesProblem(tiles, max);
  if (problem) throw new RangeError(`${what} tiles ${JSON.stringify(tiles)}: ${problem}`);
}

/** C = op(A)·op(B) (+ bias) (ReLU) (mask), overwriting C. One dispatch; `tiles.splits` is ignored (no split-K here). */
export async function gemmTiled(
  gpu: Gpu,
  shape: MatmulShape,
  options: Omit<MatmulOptions, 'tiles'> & { tiles?: GemmTiles },
  a: BufferArg,
  b: BufferArg,
  c: BufferArg,
): Promise<Dispatch[]> {
  const { m, n, k } = shape;
  checkIntegers('gemmTiled', { m, n, k });
  if (Math.max(m * k, k * n, m * n) >= 2 ** 32) {
    throw new RangeError(`gemmTiled ${m}x${n}x${k}: a matrix has 2^32 or more elements`);
  }
  const tiles = { ...(options.tiles ?? defaultGemmTiles('discrete-gpu', m, n, k)), splits: 1 };
  checkGemmTiles(gpu, 'gemmTiled', tiles);
  checkSize('gemmTiled', 'A', a, m * k);
  checkSize('gemmTiled', 'B', b, k * n);
  checkSize('gemmTiled', 'C', c, m * n);
  if (options.bias) checkSize('gemmTiled', 'bias', options.bias, n);
  if (options.reluMask) checkSize('gemmTiled', 'reluMask', options.reluMask, m * n);
  const block = gemmTileConstants(tiles, m, n, k);
  const kernel = await getKernel(gpu, {
    shader: 'gemm_tiled',
    bindings: ['read', 'read', 'read', 'read_write', 'read'],
    constants: {
      ...block.constants,
      TRANSPOSE_A: shape.transposeA ? 1 : 0,
      TRANSPOSE_B: shape.transposeB ? 1 : 0,
      HAS_BIAS: options.bias ? 1 : 0,
      RELU: options.relu ? 1 : 0,
      RELU_MASK: options.reluMask ? 1 : 0,
    },
  });
  const bindGroup = kernel.bind(gpu, [
    a,
    b,
    options.bias ?? placeholderBuffer(gpu),
    c,
    options.reluMask ?? placeholderBuffer(gpu, 1),
  ]);
  return [{ kernel, bindGroup, workgroups: grid('gemmTiled', block.groups) }];
}
