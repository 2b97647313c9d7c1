// Dispatches shaders/pack_texture.wgsl and shaders/matmul_texture.wgsl: C[m,n] = A·Bᵀ (+ bias, ReLU)
// with A [m,k] and B [n,k] first packed into rgba32float textures, 4 k to a texel. On lavapipe the
// product runs ~2x faster this way than shaders/matmul.wgsl from buffers (see the shader's header), for
// the cost of the packing copies. The register block is a parameter: bench/matmul-tiles.ts sweeps it.
import type { Gpu } from '../gpu/device.ts';
import { createRgba32fTexture, TEXTURE_USAGE, createStorageBuffer } from '../gpu/buffers.ts';
import { ceilDiv, getKernel, workgroupGrid, type BufferArg, type Dispatch } from '../gpu/kernel.ts';
import { checkMatmulTiles, type MatmulTiles } from './matmul.ts';

export const MAX_TEXTURE_MATMUL_ROWS = 24; // MAX_ROWS in the shader
export const MAX_TEXTURE_MATMUL_COLUMNS = 24; // MAX_COLS in the shader

// Chosen by `bench/matmul-tiles.ts --texture` on fc1 at batch 1000: 20x24 was within 10 % of the best
// under both runtimes (Node 31, Deno 38 GFLOP/s; 20x20 was best under Node, 24x24 under Deno).
export const DEFAULT_TEXTURE_MATMUL_TILES: MatmulTiles = { rows: 20, columns: 24, workgroup: 8 };

const PACK_WORKGROUP = 64;

/** A texture that holds up to `rows` rows of up to `k` floats, packed for the texture kernels. */
export interface PackedMatrix {
  readonly texture: GPUTexture;
  readonly view: GPUTextureView;
  readonly rows: number;
  readonly k: number;
  /** Rows per column of pages: `rows` unless the matrix is taller than a texture may be (paged). */
  readonly pageRows: number;
}

/** Texels per packed row. */
export const texelsPerRow = (k: number): number => ceilDiv(k, 4);

/** Whether `rows` x `k` fits one texture on this adapter. */
export const packFits = (gpu: Gpu, rows: number, k: number): boolean =>
  Math.max(rows, texelsPerRow(k)) <= gpu.limits.maxTextureDimension2D;

/**
 * A texture for up to `rows` rows of up to `k` floats. With `paged`, rows beyond the adapter's texture
 * height go to further columns of pages (conv2d's input; the product reads unpaged ones only). The caller
 * destroys it (`.texture.destroy()`).
 */
export function createPackedMatrix(gpu: Gpu, label: string, rows: number, k: number, options: { paged?: boolean } = {}): PackedMatrix {
  const pageRows = options.paged ? Math.min(rows, gpu.limits.maxTextureDimension2D) : rows;
  const width = texelsPerRow(k) * Math.ceil(rows / pageRows);
  const texture = createRgba32fTexture(gpu, label, width, pageRows, TEXTURE_USAGE);
  return { texture, view: texture.createView({ label }), rows, k, pageRows };
}

function checkPositive(what: string, values: Record<string, number>): void {
  for (const [key, value] of Object.entries(values)) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`${what}: ${key} must be a positive integer, got ${value}`);
  }
}

function checkFits(what: string, rows: number, k: number, dst: PackedMatrix): void {
  if (rows > dst.rows || k > dst.k) {
    throw new RangeError(`${what}: ${rows} rows of ${k} do not fit "${dst.texture.label}" (${dst.rows} rows of ${dst.k})`);
  }
}

/**
 * Packs the matrix M [rows, k] into `dst`: `source` holds M row-major, or with `transpose` its
 * transpose [k, rows] (row-major), so that the texture's rows are the source's columns. With
 * `normalizePixels`, `source` holds uint8 pixels [rows, k] four to a word, and M is what
 * shaders/normalize.wgsl makes of them, bit for bit. One dispatch.
 */
export async function packMatrix(
  gpu: Gpu,
  shape: { rows: number; k: number; transpose?: boolean; normalizePixels?: { mean: number; std: number } },
  source: BufferArg,
  dst: PackedMatrix,
): Promise<Dispatch> {
  const { rows, k } = shape;
  checkPositive('packMatrix', { rows, k });
  checkFits('packMatrix', rows, k, dst);
  const k4 = texelsPerRow(k);
  const kernel = await getKernel(gpu, {
    shader: 'pack_texture',
    bindings: ['read', 'rgba32float_write'],
    constants: {
      ROWS: rows, K: k, K4: k4, TRANSPOSE: shape.transpose ? 1 : 0, PAGE: dst.pageRows, WG: PACK_WORKGROUP,
      ...(shape.normalizePixels ? { PIXELS: 1, MEAN: shape.normalizePixels.mean, STD: shape.normalizePixels.std } : {}),
    },
  });
  return { kernel, bindGroup: kernel.bind(gpu, [source, dst.view]), workgroups: workgroupGrid(ceilDiv(k4 * rows, PACK_WORKGROUP)) };
}

// A bias binding for products without one (the shader does not read it), one per device: no buffer
// of the product itself will do, since C is bound writable and A and B are textures.
const noBiasBuffers = new WeakMap<GPUDevice, GPUBuffer>();

function noBias(gpu: Gpu): GPUBuffer {
  let buffer = noBiasBuffers.get(gpu.device);
  if (!buffer) noBiasBuffers.set(gpu.device, buffer = createStorageBuffer(gpu, 'matmul_texture: no bias', 16));
  return buffer;
}

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
  checkPositive('matmulTexture', { m, n, k });
  checkMatmulTiles(gpu, 'matmulTexture', tiles, MAX_TEXTURE_MATMUL_ROWS, MAX_TEXTURE_MATMUL_COLUMNS);
  checkFits('matmulTexture A', m, k, a);
  checkFits('matmulTexture B', n, k, b);
  for (const packed of [a, b]) {
    if (packed.pageRows < packed.rows) throw new RangeError(`matmulTexture: "${packed.texture.label}" is paged; the product reads unpaged textures`);
  }
  if (m * n >= 2 ** 32) throw new RangeError(`matmulTexture ${m}x${n}: C has 2^32 or more elements`);
  const rowBlocks = ceilDiv(m, tiles.rows);
  const columnBlocks = ceilDiv(n, tiles.columns);
  const kernel = await getKernel(gpu, {
    shader: 'matmul_texture',
    bindings: ['texture', 'texture', 'read', 'read_write'],
    constants: {
      M: m,
      N: n,
      K4: texelsPerRow(k),
      HAS_BIAS: options.bias ? 1 : 0,
      RELU: options.relu ? 1 : 0,
      ROWS: tiles.rows,
      COLS: tiles.columns,
      WG: tiles.workgroup,
      ROW_BLOCKS: rowBlocks,
      COL_BLOCKS: columnBlocks,
    },
  });
  const bindGroup = kernel.bind(gpu, [a.view, b.view, options.bias ?? noBias(gpu), c]);
  return [{ kernel, bindGroup, workgroups: workgroupGrid(ceilDiv(rowBlocks * columnBlocks, tiles.workgroup)) }];
}
