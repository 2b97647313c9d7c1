// Dispatches shaders/matmul_texture.wgsl: C[m,n] = A·Bᵀ (+ bias, ReLU)
// with A [m,k] and B [n,k] first packed into rgba32float textures (layout.ts), 4 k to a texel. On lavapipe the
// product runs ~2x faster this way than shaders/matmul.wgsl from buffers (see the shader's header), for
// the cost of the packing copies. The register block is a parameter: bench/matmul-tiles.ts sweeps it.
import type { Gpu } from '../gpu/device.ts';
import { type BufferArg, type Dispatch, getKernel } from '../gpu/kernel.ts';
import { checkIntegers, grid, placeholderBuffer } from './checks.ts';
import { checkFits, type PackedMatrix, texelsPerRow } from './layout.ts';
import { checkMatmulTiles, type MatmulTiles, registerBlock } from './matmul.ts';

export const MAX_TEXTURE_MATMUL_ROWS = 24; // MAX_ROWS in the shader
export const MAX_TEXTURE_MATMUL_COLUMNS = 24; // MAX_COLS in the shader

// Chosen by `bench/matmul-tiles.ts --texture` on fc1 at batch 1000: 20x24 was within 10 % of the best
// under both runtimes (Node 31, Deno 38 GFLOP/s; 20x20 was best under Node, 24x24 under Deno).
export const DEFAULT_TEXTURE_MATMUL_TILES: MatmulTiles = { rows: 20, columns: 24, workgroup: 8 };

/**
 * C [m, n] = A·Bᵀ (+ bias) (then ReLU), overwriting C, from the first m rows of `a` and the first n
 * of `b`, packed (packMatrix) with rows of length k. One dispatch.
 */
export async function matmulTexture(
  gpu: Gpu,
  shape: { m: number; n: number; k: number },
  options: { bias?: BufferArg; relu?: boolean; tiles?: MatmulTiles },
  a: PackedMatrix,
  b: PackedMatrix,
  c: BufferArg,
): Promise<Dispatch[]> {
  const tiles = options.tiles ?? DEFAULT_TEXTURE_MATMUL_TILES;
  const { m, n, k } = shape;
  checkIntegers('matmulTexture', { m, n, k });
  checkMatmulTiles(gpu, 'matmulTexture', tiles, MAX_TEXTURE_MATMUL_ROWS, MAX_TEXTURE_MATMUL_COLUMNS);
  checkFits('matmulTexture A', m, k, a);
  checkFits('matmulTexture B', n, k, b);
  for (const packed of [a, b]) {
    if (packed.pageRows < packed.rows) {
      throw new RangeError(`matmulTexture: "${packed.texture.label}" is paged; the product reads unpaged textures`);
    }
  }
  if (m * n >= 2 ** 32) throw new RangeError(`matmulTexture ${m}x${n}: C has 2^32 or more elements`);
  const block = registerBlock(tiles, m, n);
  const kernel = await getKernel(gpu, {
    shader: 'matmul_texture',
    bindings: ['texture', 'texture', 'read', 'read_write'],
    constants: {
      M: m,
      N: n,
      K4: texelsPerRow(k),
      HAS_BIAS: options.bias ? 1 : 0,
      RELU: options.relu ? 1 : 0,
      ...block.constants,
    },
  });
  const bindGroup = kernel.bind(gpu, [a.view, b.view, options.bias ?? placeholderBuffer(gpu), c]);
  return [{ kernel, bindGroup, workgroups: grid('matmulTexture', block.groups) }];
}
