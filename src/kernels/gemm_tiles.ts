// Workgroup tiles of the GPU-class products (shaders/include/gemm_tiles.wgsl: gemm_tiled.wgsl and
// conv2d_gemm_tiled.wgsl): their limits, the defaults per class of device, and the candidates the tuner
// may pick. GPU-free, so the planner (src/nn/planner.ts) records them in a plan.
import { ceilDiv, conv2dOutputSize, type Conv2dShape } from '../util/shapes.ts';

export interface GemmTiles {
  /** Rows of C per workgroup (<= 128). */
  tileM: number;
  /** Columns of C per workgroup (<= 128). */
  tileN: number;
  /** Values of k staged per step (<= 8). */
  tileK: number;
  /** Rows per invocation: tileM % threadM == 0. */
  threadM: number;
  /** Columns per invocation: tileN % threadN == 0; threadM * threadN <= 64. */
  threadN: number;
  /** Splits of k (split-K), summed afterwards by shaders/reduce_tree.wgsl; 1 for dense products. */
  splits?: number;
}

export const MAX_GEMM_TILE = 128; // MAX_TILE_M, MAX_TILE_N in the include
export const MAX_GEMM_TILE_K = 8;
export const MAX_GEMM_THREAD = 8;

/** Which class of device a rule is for (src/gpu/profile.ts DeviceKind, without importing the GPU side). */
export type TileClass = 'cpu-driver' | 'integrated-gpu' | 'discrete-gpu';

/** Invocations per workgroup of a tile configuration. */
export const gemmWorkgroup = (t: GemmTiles): number => (t.tileM / t.threadM) * (t.tileN / t.threadN);

/** Why `tiles` cannot run with at most `maxInvocations` per workgroup, or undefined when it can. */
export function gemmTilesProblem(tiles: GemmTiles, maxInvocations: number): string | undefined {
  const { tileM, tileN, tileK, threadM, threadN, splits = 1 } = tiles;
  const ints = [tileM, tileN, tileK, threadM, threadN, splits];
  if (!ints.every((v) => Number.isInteger(v) && v >= 1)) return 'every size must be a positive integer';
  if (tileM > MAX_GEMM_TILE || tileN > MAX_GEMM_TILE) return `tileM and tileN must be at most ${MAX_GEMM_TILE}`;
  if (tileK > MAX_GEMM_TILE_K) return `tileK must be at most ${MAX_GEMM_TILE_K}`;
  if (threadM > MAX_GEMM_THREAD || threadN > MAX_GEMM_THREAD) {
    return `threadM and threadN must be at most ${MAX_GEMM_THREAD}`;
  }
  if (tileM % threadM !== 0 || tileN % threadN !== 0) return 'tileM must be a multiple of threadM, tileN of threadN';
  if (gemmWorkgroup(tiles) > maxInvocations) {
    return `(tileM/threadM)*(tileN/threadN) must be at most ${maxInvocations} invocations`;
  }
  return undefined;
}

/** The override constants and workgroup count of a tiled product C[m, n] over k. */
export function gemmTileConstants(
  tiles: GemmTiles,
  m: number,
  n: number,
  k: number,
): { constants: Record<string, number>; groups: number } {
  const splits = Math.max(1, Math.min(tiles.splits ?? 1, k));
  // Chunks are whole steps of tileK, so the last split is the only short one.
  const chunk = ceilDiv(ceilDiv(k, splits), tiles.tileK) * tiles.tileK;
  const used = ceilDiv(k, chunk);
  return {
    constants: {
      GEMM_M: m,
      GEMM_N: n,
      GEMM_K: k,
      TILE_M: tiles.tileM,
      TILE_N: tiles.tileN,
      TILE_K: tiles.tileK,
      THREAD_M: tiles.threadM,
      THREAD_N: tiles.threadN,
      WG: gemmWorkgroup(tiles),
      K_SPLITS: used,
      K_CHUNK: chunk,
    },
    groups: ceilDiv(m, tiles.tileM) * ceilDiv(n, tiles.tileN) * used,
  };
}

const side = (d: number) => (d <= 16 ? 16 : d <= 32 ? 32 : 64);
/** A tile side's rows (or columns) per invocation: 2 on a 16-wide side, else 4 (8 on the 128 side). */
const threadsOf = (tile: number) => (tile <= 16 ? 2 : tile <= 64 ? 4 : 8);

/**
 * Workgroups a GPU class wants of a product before it accepts fewer, bigger tiles: a few per compute
 * unit (an integrated GPU has 8-32, a discrete one 40-140). A batch-64 product such as digit's fc1
 * (64 x 500) fills only 8 workgroups of 64 x 64, most of a discrete GPU idle.
 */
export const GPU_OCCUPANCY: Record<Exclude<TileClass, 'cpu-driver'>, number> = {
  'integrated-gpu': 32,
  'discrete-gpu': 128,
};

/**
 * Default tiles of a product C[m, n] over k on a class of device: tiles no wider than the product needs
 * (fc2 and conv1 have 10 outputs), 4x4 outputs per invocation (2x2 on a 16-wide side), 128x64 tiles of
 * 8x4 on a discrete GPU's big products. On a GPU, a dense product's tiles then shrink (the longer side
 * first, down to 16) until it has GPU_OCCUPANCY workgroups: each output still sums k in order, so this
 * never changes a result. `splitK`: products with few tiles and long k (conv weight gradients) fill the
 * device by splitting k instead, at least 256 values of k per split (their tiles, and so their summation
 * order, as before).
 */
export function defaultGemmTiles(kind: TileClass, m: number, n: number, k: number, splitK = false): GemmTiles {
  let tiles: GemmTiles;
  if (kind === 'discrete-gpu' && m >= 2048 && n >= 64) {
    tiles = { tileM: 128, tileN: 64, tileK: 8, threadM: 8, threadN: 4 };
  } else if (kind === 'cpu-driver') tiles = { tileM: 32, tileN: 32, tileK: 8, threadM: 4, threadN: 4 };
  else {
    const tileM = side(m);
    const tileN = side(n);
    tiles = { tileM, tileN, tileK: 8, threadM: threadsOf(tileM), threadN: threadsOf(tileN) };
  }
  const tiles2d = () => ceilDiv(m, tiles.tileM) * ceilDiv(n, tiles.tileN);
  if (kind !== 'cpu-driver' && !splitK) {
    while (tiles2d() < GPU_OCCUPANCY[kind] && (tiles.tileM > 16 || tiles.tileN > 16)) {
      const shrinkM = tiles.tileN <= 16 || (tiles.tileM > 16 && tiles.tileM >= tiles.tileN);
      const tileM = shrinkM ? tiles.tileM / 2 : tiles.tileM;
      const tileN = shrinkM ? tiles.tileN : tiles.tileN / 2;
      tiles = { tileM, tileN, tileK: 8, threadM: threadsOf(tileM), threadN: threadsOf(tileN) };
    }
  }
  if (splitK) {
    const target = kind === 'discrete-gpu' ? 512 : kind === 'integrated-gpu' ? 64 : 4;
    tiles.splits = Math.max(1, Math.min(ceilDiv(target, tiles2d()), Math.floor(k / 256), 256));
  }
  return tiles;
}

/**
 * The configurations the tuner tries for a tiled product (besides the default), and that the kernel
 * tests cover: each passes the same suites. Split counts for split-K products come from `splitCounts`.
 */
export const GEMM_TILE_CANDIDATES: readonly GemmTiles[] = Object.freeze([
  { tileM: 16, tileN: 16, tileK: 8, threadM: 2, threadN: 2 },
  { tileM: 32, tileN: 32, tileK: 8, threadM: 4, threadN: 4 },
  { tileM: 64, tileN: 16, tileK: 8, threadM: 4, threadN: 2 },
  { tileM: 64, tileN: 32, tileK: 8, threadM: 4, threadN: 4 },
  { tileM: 64, tileN: 64, tileK: 8, threadM: 4, threadN: 4 },
  { tileM: 64, tileN: 64, tileK: 4, threadM: 8, threadN: 8 },
  { tileM: 128, tileN: 64, tileK: 8, threadM: 8, threadN: 4 },
  { tileM: 128, tileN: 32, tileK: 8, threadM: 8, threadN: 4 },
]);

/** Split counts the tuner tries for a split-K product over k. */
export function splitCounts(k: number): number[] {
  return [1, 4, 16, 64, 256].filter((s) => s === 1 || k / s >= 64);
}

/** The product each pass of a tiled convolution runs (shaders/conv2d_gemm_tiled.wgsl's header): [m, n, k]. */
export function conv2dGemmShape(
  shape: Conv2dShape,
  pass: 'forward' | 'backwardInput' | 'backwardWeight',
): [number, number, number] {
  const { outH, outW } = conv2dOutputSize(shape);
  const taps = shape.kernelH * shape.kernelW;
  if (pass === 'forward') return [shape.batch * outH * outW, shape.outChannels, shape.inChannels * taps];
  if (pass === 'backwardInput') {
    return [shape.batch * shape.height * shape.width, shape.inChannels, shape.outChannels * taps];
  }
  return [shape.outChannels, shape.inChannels * taps, shape.batch * outH * outW];
}
