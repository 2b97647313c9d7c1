// Dispatches shaders/matmul.wgsl: C[m,n] = op(A)·op(B) (+ bias, ReLU), row-major f32. The register
// block and workgroup size below are the only workgroup arithmetic; the defaults suit lavapipe (CPU
// Vulkan), where bench/matmul-tiles.ts sweeps the alternatives. Real GPUs would want others.
import type { Gpu } from '../gpu/device.ts';
import { type BufferArg, type Dispatch, getKernel } from '../gpu/kernel.ts';
import { ceilDiv, type MatmulShape } from '../util/shapes.ts';
import { checkIntegers, grid, placeholderBuffer } from './checks.ts';

export type { MatmulShape };

/** Register block of shaders/matmul.wgsl. */
export interface MatmulTiles {
  /** Rows of C per invocation (1..MAX_MATMUL_ROWS). */
  rows: number;
  /** Columns of C per invocation (1..MAX_MATMUL_COLUMNS). */
  columns: number;
  /** Invocations per workgroup. */
  workgroup: number;
}

export const MAX_MATMUL_ROWS = 32; // MAX_ROWS in the shader
export const MAX_MATMUL_COLUMNS = 16; // MAX_COLS in the shader

export const DEFAULT_MATMUL_TILES: MatmulTiles = { rows: 16, columns: 10, workgroup: 8 };

export interface MatmulOptions {
  /** Length n, added to each row of C. */
  bias?: BufferArg;
  /** max(0, .) after the bias. */
  relu?: boolean;
  /** [m,n]: C is zeroed where this is <= 0 (the backward of the ReLU that produced it). */
  reluMask?: BufferArg;
  tiles?: MatmulTiles;
}

function checkShape(shape: MatmulShape): void {
  checkIntegers('matmul', { m: shape.m, n: shape.n, k: shape.k });
  // Flat indices are u32 in the shader.
  if (Math.max(shape.m * shape.k, shape.k * shape.n, shape.m * shape.n) >= 2 ** 32) {
    throw new RangeError(`matmul ${shape.m}x${shape.n}x${shape.k}: a matrix has 2^32 or more elements`);
  }
}

/** Throws a RangeError unless `tiles` is a register block of at most maxRows x maxColumns this adapter can run. */
export function checkMatmulTiles(
  gpu: Gpu,
  what: string,
  tiles: MatmulTiles,
  maxRows: number,
  maxColumns: number,
): void {
  const maxWorkgroup = Math.min(gpu.limits.maxComputeWorkgroupSizeX, gpu.limits.maxComputeInvocationsPerWorkgroup);
  try {
    checkIntegers(what, { rows: tiles.rows }, 1, maxRows);
    checkIntegers(what, { columns: tiles.columns }, 1, maxColumns);
    checkIntegers(what, { workgroup: tiles.workgroup }, 1, maxWorkgroup);
  } catch {
    throw new RangeError(
      `${what} tiles ${
        JSON.stringify(tiles)
      }: rows must be 1..${maxRows}, columns 1..${maxColumns}, workgroup 1..${maxWorkgroup}`,
    );
  }
}

/**
 * The override constants of a register-blocked product (matmul.wgsl, register_block.wgsl's users) of
 * `rows` x `columns` outputs, and its workgroup count: blocks of tiles.rows x tiles.columns, one per invocation.
 */
export function registerBlock(
  tiles: MatmulTiles,
  rows: number,
  columns: number,
): { constants: Record<string, number>; groups: number } {
  const rowBlocks = ceilDiv(rows, tiles.rows);
  const columnBlocks = ceilDiv(columns, tiles.columns);
  return {
    constants: {
      ROWS: tiles.rows,
      COLS: tiles.columns,
      WG: tiles.workgroup,
      ROW_BLOCKS: rowBlocks,
      COL_BLOCKS: columnBlocks,
    },
    groups: ceilDiv(rowBlocks * columnBlocks, tiles.workgroup),
  };
}

/** C = op(A)·op(B) (+ bias) (ReLU), overwriting C. One dispatch. */
export async function matmul(
  gpu: Gpu,
  shape: MatmulShape,
  options: MatmulOptions,
  a: BufferArg,
  b: BufferArg,
  c: BufferArg,
): Promise<Dispatch[]> {
  const tiles = options.tiles ?? DEFAULT_MATMUL_TILES;
  checkShape(shape);
  checkMatmulTiles(gpu, 'matmul', tiles, MAX_MATMUL_ROWS, MAX_MATMUL_COLUMNS);
  const block = registerBlock(tiles, shape.m, shape.n);
  const kernel = await getKernel(gpu, {
    shader: 'matmul',
    bindings: ['read', 'read', 'read', 'read_write', 'read'],
    constants: {
      M: shape.m,
      N: shape.n,
      K: shape.k,
      TRANSPOSE_A: shape.transposeA ? 1 : 0,
      TRANSPOSE_B: shape.transposeB ? 1 : 0,
      HAS_BIAS: options.bias ? 1 : 0,
      RELU: options.relu ? 1 : 0,
      RELU_MASK: options.reluMask ? 1 : 0,
      ...block.constants,
    },
  });
  const bindGroup = kernel.bind(gpu, [
    a,
    b,
    options.bias ?? placeholderBuffer(gpu),
    c,
    options.reluMask ?? placeholderBuffer(gpu),
  ]);
  return [{ kernel, bindGroup, workgroups: grid('matmul', block.groups) }];
}
