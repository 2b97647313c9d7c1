// Dispatches shaders/pack_texture.wgsl and shaders/matmul_texture.wgsl: C[m,n] = A·Bᵀ + bias (ReLU)
// with A [m,k] and B [n,k] first packed into rgba32float textures, 4 k to a texel. On lavapipe the
// product runs ~2x faster this way than shaders/matmul.wgsl from buffers (see the shader's header), for
// the cost of the packing copies. The register block is a parameter: bench/matmul-tiles.ts sweeps it.
import type { Gpu } from '../gpu/device.ts';
import { createRgba32fTexture } from '../gpu/buffers.ts';
import { ceilDiv, getKernel, workgroupGrid, type BufferArg, type Dispatch } from '../gpu/kernel.ts';
import type { MatmulTiles } from './matmul.ts';

export const MAX_TEXTURE_MATMUL_ROWS = 24; // MAX_ROWS in the shader
export const MAX_TEXTURE_MATMUL_COLUMNS = 24; // MAX_COLS in the shader

export const DEFAULT_TEXTURE_MATMUL_TILES: MatmulTiles = { rows: 16, columns: 24, workgroup: 8 };

const PACK_WORKGROUP = 64;

/** A matrix of `rows` x `k` floats packed for the texture product. */
export interface PackedMatrix {
  readonly texture: GPUTexture;
  readonly view: GPUTextureView;
  /** Rows the texture can hold (a pack may fill fewer). */
  readonly rows: number;
  readonly k: number;
}

/** Texels per packed row. */
export const texelsPerRow = (k: number): number => ceilDiv(k, 4);

/** Whether `rows` x `k` fits one texture on this adapter. */
export const packFits = (gpu: Gpu, rows: number, k: number): boolean =>
  Math.max(rows, texelsPerRow(k)) <= gpu.limits.maxTextureDimension2D;

/** A texture for up to `rows` rows of length `k`. The caller destroys it (`.texture.destroy()`). */
export function createPackedMatrix(gpu: Gpu, label: string, rows: number, k: number): PackedMatrix {
  const texture = createRgba32fTexture(gpu, label, texelsPerRow(k), rows, 0x4 /* TEXTURE_BINDING */ | 0x8 /* STORAGE_BINDING */);
  return { texture, view: texture.createView({ label }), rows, k };
}

function checkPositive(what: string, values: Record<string, number>): void {
  for (const [key, value] of Object.entries(values)) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`${what}: ${key} must be a positive integer, got ${value}`);
  }
}

/** Copies the first `rows` rows of `source` ([rows, dst.k], row-major) into `dst`. One dispatch. */
export async function packMatrix(gpu: Gpu, rows: number, source: BufferArg, dst: PackedMatrix): Promise<Dispatch> {
  checkPositive('packMatrix', { rows });
  if (rows > dst.rows) throw new RangeError(`packMatrix: ${rows} rows do not fit "${dst.texture.label}" (${dst.rows} rows)`);
  const k4 = texelsPerRow(dst.k);
  const kernel = await getKernel(gpu, {
    shader: 'pack_texture',
    bindings: ['read', 'rgba32float_write'],
    constants: { ROWS: rows, K: dst.k, K4: k4, WG: PACK_WORKGROUP },
  });
  return { kernel, bindGroup: kernel.bind(gpu, [source, dst.view]), workgroups: workgroupGrid(ceilDiv(k4 * rows, PACK_WORKGROUP)) };
}

function checkTiles(gpu: Gpu, tiles: MatmulTiles): void {
  const within = (x: number, max: number) => Number.isInteger(x) && x >= 1 && x <= max;
  const maxWorkgroup = Math.min(gpu.limits.maxComputeWorkgroupSizeX, gpu.limits.maxComputeInvocationsPerWorkgroup);
  if (!within(tiles.rows, MAX_TEXTURE_MATMUL_ROWS) || !within(tiles.columns, MAX_TEXTURE_MATMUL_COLUMNS) ||
    !within(tiles.workgroup, maxWorkgroup)) {
    throw new RangeError(
      `matmulTexture tiles ${JSON.stringify(tiles)}: rows must be 1..${MAX_TEXTURE_MATMUL_ROWS}, columns ` +
        `1..${MAX_TEXTURE_MATMUL_COLUMNS}, workgroup 1..${maxWorkgroup}`,
    );
  }
}

/**
 * C [m, n] = A·Bᵀ + bias (then ReLU), overwriting C, from the first m rows packed in `a` and the first n
 * in `b` (both of length k): a linear layer's forward. One dispatch; pack with packMatrix first.
 */
export async function matmulTexture(
  gpu: Gpu,
  shape: { m: number; n: number },
  options: { bias: BufferArg; relu?: boolean; tiles?: MatmulTiles },
  a: PackedMatrix,
  b: PackedMatrix,
  c: BufferArg,
): Promise<Dispatch[]> {
  const tiles = options.tiles ?? DEFAULT_TEXTURE_MATMUL_TILES;
  checkPositive('matmulTexture', shape);
  checkTiles(gpu, tiles);
  if (a.k !== b.k) throw new RangeError(`matmulTexture: A rows have ${a.k} elements but B rows ${b.k}`);
  if (shape.m > a.rows || shape.n > b.rows) {
    throw new RangeError(`matmulTexture ${shape.m}x${shape.n}: A holds ${a.rows} rows and B ${b.rows}`);
  }
  if (shape.m * shape.n >= 2 ** 32) throw new RangeError(`matmulTexture ${shape.m}x${shape.n}: C has 2^32 or more elements`);
  const rowBlocks = ceilDiv(shape.m, tiles.rows);
  const columnBlocks = ceilDiv(shape.n, tiles.columns);
  const kernel = await getKernel(gpu, {
    shader: 'matmul_texture',
    bindings: ['texture', 'texture', 'read', 'read_write'],
    constants: {
      M: shape.m,
      N: shape.n,
      K4: texelsPerRow(a.k),
      RELU: options.relu ? 1 : 0,
      ROWS: tiles.rows,
      COLS: tiles.columns,
      WG: tiles.workgroup,
      ROW_BLOCKS: rowBlocks,
      COL_BLOCKS: columnBlocks,
    },
  });
  const bindGroup = kernel.bind(gpu, [a.view, b.view, options.bias, c]);
  return [{ kernel, bindGroup, workgroups: workgroupGrid(ceilDiv(rowBlocks * columnBlocks, tiles.workgroup)) }];
}
