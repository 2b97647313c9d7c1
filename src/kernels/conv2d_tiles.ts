// Register blocks and workgroup sizes of the conv2d kernels, and which layers the texture kernels
// suit: GPU-free rules that the kernel modules default to and the planner (src/nn/planner.ts) records
// in an execution plan. The defaults suit lavapipe (CPU Vulkan); bench/conv2d-tiles.ts sweeps others.
import { ceilDiv, conv2dOutputSize, type Conv2dShape, evenBlock, texelsPerRow } from '../util/shapes.ts';

/** Register block of shaders/conv2d_forward.wgsl: each invocation computes channelBlock x columns outputs. */
export interface Conv2dForwardTiles {
  /** Output channels per invocation (1..8). */
  channelBlock: number;
  /** Adjacent output columns of one row per invocation (1..16); (columns - 1) * stride + kernelW <= 32. */
  columns: number;
  workgroup: number;
}

/** Register block of shaders/conv2d_backward_input.wgsl, in gradInput: channelBlock x columns. */
export interface Conv2dBackwardInputTiles {
  /** Input channels per invocation (1..8). */
  channelBlock: number;
  /** Adjacent input columns of one row per invocation (1..16); columns - 1 + kernelW <= 32. */
  columns: number;
  workgroup: number;
}

/** Register block and reduction split of shaders/conv2d_backward_weight{,_reduce}.wgsl. */
export interface Conv2dBackwardWeightTiles {
  /** Output channels per invocation (1..8). */
  channelBlock: number;
  /** Kernel rows per invocation; kernelRowBlock * kernelColumnBlock <= 32. */
  kernelRowBlock: number;
  /** Kernel columns per invocation. */
  kernelColumnBlock: number;
  /** Output rows (n, y) summed by one invocation before the final reduction. */
  rowsPerChunk: number;
  workgroup: number;
  reduceWorkgroup: number;
}

/** Register block of shaders/conv2d_forward_texture.wgsl: channels x rows x 4*texels outputs. */
export interface Conv2dTextureTiles {
  /** Output channels per invocation (1..10). */
  channelBlock: number;
  /** Output rows per invocation (1..4). */
  rows: number;
  /** Output columns per invocation, in fours (1..2). */
  columnTexels: number;
  workgroup: number;
}

/** Register block of shaders/conv2d_forward_implicit_gemm.wgsl: positions (a multiple of 4) x output channels. */
export interface ImplicitGemmTiles {
  rows: number;
  columns: number;
  workgroup: number;
}

// Sizes of the register arrays in the shaders (their MAX_* constants).
export const MAX_CHANNEL_BLOCK = 8;
export const MAX_COLUMNS = 16;
export const MAX_SEGMENT = 32;
export const MAX_TAPS = 32;
export const MAX_TEXTURE_KERNEL_W = 8; // MAX_KW in conv2d_forward_texture.wgsl
export const MAX_TEXTURE_CHANNELS = 10; // MAX_OC in conv2d_forward_texture.wgsl
export const MAX_IMPLICIT_GEMM_ROWS = 24; // MAX_ROWS in conv2d_forward_implicit_gemm.wgsl
export const MAX_IMPLICIT_GEMM_COLUMNS = 24; // MAX_COLS in conv2d_forward_implicit_gemm.wgsl

/**
 * On lavapipe a storage-buffer load costs about as much as LOAD_COST fmas (each invocation of an
 * 8-wide group loads on its own, behind a bounds check), so blocks are chosen to minimise loads per
 * useful multiply-add within the register budget.
 */
const LOAD_COST = 20;
/** Below this many multiply-adds a layer is cheap anyway; smaller blocks keep its compile time short. */
const SMALL_LAYER_MACS = 1 << 21;
/** With fewer invocations than this, lanes or cores sit idle. */
const MIN_INVOCATIONS = 256;

function layerMacs(shape: Conv2dShape): number {
  const { outH, outW } = conv2dOutputSize(shape);
  return shape.batch * shape.outChannels * outH * outW * shape.inChannels * shape.kernelH * shape.kernelW;
}

interface OutputBlockProblem {
  batch: number;
  /** Channels, rows and columns of the tensor being computed. */
  channels: number;
  height: number;
  width: number;
  kernelW: number;
  /** Length of the row segment a block of `columns` loads. */
  segment: (columns: number) => number;
  small: boolean;
}

/** Picks channels x columns for conv2d_forward and conv2d_backward_input by the load-count model. */
function chooseOutputBlock(p: OutputBlockProblem): { channelBlock: number; columns: number } {
  const accLimit = p.small ? 16 : 64;
  let best = { channelBlock: 1, columns: 1 };
  let bestCost = Infinity;
  for (let channelBlock = 1; channelBlock <= Math.min(p.channels, MAX_CHANNEL_BLOCK); channelBlock++) {
    for (let columns = 1; columns <= Math.min(p.width, MAX_COLUMNS) && channelBlock * columns <= accLimit; columns++) {
      if (p.segment(columns) > MAX_SEGMENT) break;
      // Per input channel and kernel row: one segment and kernelW weights per channel. A segment
      // element costs about twice a weight (bounds masks, and it slides kernelW times).
      const loads = 2 * p.segment(columns) + p.kernelW * channelBlock;
      const macs = p.kernelW * channelBlock * columns;
      const blocks = [ceilDiv(p.channels, channelBlock), ceilDiv(p.width, columns)];
      const waste = (blocks[0] * channelBlock * blocks[1] * columns) / (p.channels * p.width);
      const idle = Math.max(1, MIN_INVOCATIONS / (p.batch * p.height * blocks[0] * blocks[1]));
      const cost = (waste * idle * (LOAD_COST * loads + macs)) / macs;
      if (cost < bestCost - 1e-9) {
        bestCost = cost;
        best = { channelBlock, columns };
      }
    }
  }
  return best;
}

export function defaultForwardTiles(shape: Conv2dShape): Conv2dForwardTiles {
  const { outH, outW } = conv2dOutputSize(shape);
  const stride = shape.stride ?? 1;
  const block = chooseOutputBlock({
    batch: shape.batch,
    channels: shape.outChannels,
    height: outH,
    width: outW,
    kernelW: shape.kernelW,
    segment: (columns) => (columns - 1) * stride + shape.kernelW,
    small: layerMacs(shape) < SMALL_LAYER_MACS,
  });
  return { ...block, workgroup: 64 };
}

export function defaultBackwardInputTiles(shape: Conv2dShape): Conv2dBackwardInputTiles {
  const block = chooseOutputBlock({
    batch: shape.batch,
    channels: shape.inChannels,
    height: shape.height,
    width: shape.width,
    kernelW: shape.kernelW,
    segment: (columns) => columns - 1 + shape.kernelW,
    small: layerMacs(shape) < SMALL_LAYER_MACS,
  });
  return { ...block, workgroup: 64 };
}

export function defaultBackwardWeightTiles(shape: Conv2dShape): Conv2dBackwardWeightTiles {
  const { outH } = conv2dOutputSize(shape);
  // Up to 50 sums: whole 5x5 kernels for two channels measured best on MNIST's first layer.
  const accLimit = layerMacs(shape) < SMALL_LAYER_MACS ? 16 : 50;
  // Per x step: channelBlock gradient loads and kernelRowBlock input loads (stride 1) feed
  // channelBlock * kernelRowBlock * kernelColumnBlock fmas, so take whole kernels, then channels.
  const tapLimit = Math.min(MAX_TAPS, accLimit);
  const kernelColumnBlock = evenBlock(shape.kernelW, tapLimit);
  const kernelRowBlock = evenBlock(shape.kernelH, Math.max(1, Math.floor(tapLimit / kernelColumnBlock)));
  const taps = kernelRowBlock * kernelColumnBlock;
  const channelBlock = evenBlock(
    shape.outChannels,
    Math.min(MAX_CHANNEL_BLOCK, Math.max(1, Math.floor(accLimit / taps))),
  );
  const blocksPerChunk = ceilDiv(shape.outChannels, channelBlock) * shape.inChannels *
    ceilDiv(shape.kernelH, kernelRowBlock) * ceilDiv(shape.kernelW, kernelColumnBlock);
  // Enough chunks for about 512 invocations; each still sums a long run of rows.
  const rows = shape.batch * outH;
  const chunks = Math.max(1, Math.min(rows, ceilDiv(512, blocksPerChunk)));
  return {
    channelBlock,
    kernelRowBlock,
    kernelColumnBlock,
    rowsPerChunk: ceilDiv(rows, chunks),
    workgroup: 64,
    reduceWorkgroup: 64,
  };
}

export function defaultTextureTiles(shape: Conv2dShape): Conv2dTextureTiles {
  const { outW } = conv2dOutputSize(shape);
  // conv1 (10 channels, 24x24, 5x5) ran best with all 10 channels x 4 rows x 8 columns (prototype).
  return {
    channelBlock: evenBlock(shape.outChannels, MAX_TEXTURE_CHANNELS),
    rows: 4,
    columnTexels: outW > 4 ? 2 : 1,
    workgroup: 8,
  };
}

/** The texture forward's tiles when it max-pools as it stores: every channel in one block. */
export function defaultTexturePoolTiles(shape: Conv2dShape): Conv2dTextureTiles {
  return { ...defaultTextureTiles(shape), channelBlock: shape.outChannels };
}

/**
 * The fewest blocks of at most 20 positions (whole texels) and at most 24 channels, as even as can be:
 * on conv2 at batch 1000, 20 positions x all 20 channels was fastest (bench/conv2d-tiles.ts --implicit-gemm).
 */
export function defaultImplicitGemmTiles(shape: Conv2dShape): ImplicitGemmTiles {
  const { outH, outW } = conv2dOutputSize(shape);
  const texels = (outH * outW) / 4;
  return {
    rows: 4 * ceilDiv(texels, ceilDiv(texels, 5)),
    columns: ceilDiv(shape.outChannels, ceilDiv(shape.outChannels, MAX_IMPLICIT_GEMM_COLUMNS)),
    workgroup: 8,
  };
}

/**
 * Whether shaders/conv2d_forward_texture.wgsl computes this layer: stride 1, no padding, kernels 4 to
 * 8 wide. Narrower kernels chain too few taps per store to pay for the packing (bench/RESULTS.md).
 */
export function conv2dTextureSuits(shape: Conv2dShape): boolean {
  return (shape.stride ?? 1) === 1 && (shape.padding ?? 0) === 0 && shape.kernelW >= 4 &&
    shape.kernelW <= MAX_TEXTURE_KERNEL_W;
}

/** Whether the texture forward can max-pool `shape`'s output 2x2 at stride 2 itself. */
export function conv2dTexturePoolSuits(shape: Conv2dShape): boolean {
  const { outH, outW } = conv2dOutputSize(shape);
  return conv2dTextureSuits(shape) && shape.outChannels <= MAX_TEXTURE_CHANNELS && outH >= 2 && outW >= 2;
}

/**
 * Whether the implicit-GEMM forward computes this layer under this texture-size limit: stride 1, no
 * padding, a number of output positions that is a multiple of 4 (its output texels are whole).
 */
export function implicitGemmSuits(limits: { maxTextureDimension2D: number }, shape: Conv2dShape): boolean {
  const { outH, outW } = conv2dOutputSize(shape);
  const max = limits.maxTextureDimension2D;
  const c4 = texelsPerRow(shape.inChannels);
  return (shape.stride ?? 1) === 1 && (shape.padding ?? 0) === 0 && (outH * outW) % 4 === 0 && shape.batch <= max &&
    shape.outChannels <= max && shape.height * shape.width * c4 <= max && shape.kernelH * shape.kernelW * c4 <= max &&
    shape.outChannels * outH * outW / 4 <= max;
}
