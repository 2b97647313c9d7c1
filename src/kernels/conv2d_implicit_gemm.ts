// Dispatches shaders/pack_channels_last.wgsl and shaders/conv2d_forward_implicit_gemm.wgsl: a stride-1,
// unpadded convolution computed as a product from textures, its input and weights packed channels-last,
// 4 channels to a texel, and its output written packed for a following linear layer's texture product.
// Forward-only networks run conv2 this way (src/nn/network.ts): its 3x3 kernel chains too few taps per
// store for shaders/conv2d_forward_texture.wgsl, but 10 channels make 3 texels per tap here.
import type { Gpu } from '../gpu/device.ts';
import { createRgba32fTexture, TEXTURE_USAGE } from '../gpu/buffers.ts';
import { ceilDiv, getKernel, workgroupGrid, type BufferArg, type Dispatch } from '../gpu/kernel.ts';
import { conv2dOutputSize, type Conv2dShape } from './conv2d.ts';
import { texelsPerRow, type PackedMatrix } from './matmul_texture.ts';
import { maxPool2dOutputSize } from './maxpool2d.ts';

/** NCHW planes packed channels-last: row r of the texture holds item r, texel (y * width + x) * C4 + g. */
export interface ChannelsLastTexture {
  readonly texture: GPUTexture;
  readonly view: GPUTextureView;
  readonly items: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/** Register block of the implicit-GEMM kernel: positions (a multiple of 4) x output channels. */
export interface ImplicitGemmTiles {
  rows: number;
  columns: number;
  workgroup: number;
}

const MAX_ROWS = 24; // MAX_ROWS in the shader
const MAX_COLUMNS = 24; // MAX_COLS in the shader
const PACK_WORKGROUP = 64;

/** A texture for `items` NCHW items of channels x height x width, packed channels-last. The caller destroys it. */
export function createChannelsLastTexture(gpu: Gpu, label: string, items: number, channels: number, height: number, width: number):
  ChannelsLastTexture {
  const texture = createRgba32fTexture(gpu, label, height * width * texelsPerRow(channels), items,
    TEXTURE_USAGE);
  return { texture, view: texture.createView({ label }), items, channels, height, width };
}

/**
 * Whether conv2dForwardImplicitGemm computes this layer on this adapter: stride 1, no padding, a number
 * of output positions that is a multiple of 4 (its output texels are whole), and textures big enough.
 */
export function implicitGemmSuits(gpu: Gpu, shape: Conv2dShape): boolean {
  const { outH, outW } = conv2dOutputSize(shape);
  const max = gpu.limits.maxTextureDimension2D;
  const c4 = texelsPerRow(shape.inChannels);
  return (shape.stride ?? 1) === 1 && (shape.padding ?? 0) === 0 && (outH * outW) % 4 === 0 && shape.batch <= max &&
    shape.outChannels <= max && shape.height * shape.width * c4 <= max && shape.kernelH * shape.kernelW * c4 <= max &&
    shape.outChannels * outH * outW / 4 <= max;
}

/**
 * The fewest blocks of at most 20 positions (whole texels) and at most 24 channels, as even as can be:
 * on conv2 at batch 1000, 20 positions x all 20 channels was fastest (bench/conv2d-tiles.ts
 * --implicit-gemm: 12.9-13.8 ms; 16 x 20 15.2, 24 x 20 14.9, 20 x 10 16.1, 8 x 20 25.6).
 */
export function defaultImplicitGemmTiles(shape: Conv2dShape): ImplicitGemmTiles {
  const { outH, outW } = conv2dOutputSize(shape);
  const texels = (outH * outW) / 4;
  return {
    rows: 4 * ceilDiv(texels, ceilDiv(texels, 5)),
    columns: ceilDiv(shape.outChannels, ceilDiv(shape.outChannels, MAX_COLUMNS)),
    workgroup: 8,
  };
}

function checkInteger(what: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`conv2d implicit GEMM: ${what} must be an integer in ${min}..${max}, got ${value}`);
  }
}

/**
 * Packs `items` NCHW items of `src` into `dst`, channels-last; each position the max over a pool x pool
 * window at `stride` (default pool 1: a plain repack). One dispatch.
 */
export async function packChannelsLast(
  gpu: Gpu,
  shape: { items: number; channels: number; height: number; width: number; pool?: number; stride?: number },
  src: BufferArg,
  dst: ChannelsLastTexture,
): Promise<Dispatch> {
  const { items, channels, height, width } = shape;
  const pool = shape.pool ?? 1;
  const stride = shape.stride ?? pool;
  for (const [name, value] of Object.entries({ items, channels, height, width, pool, stride })) checkInteger(name, value, 1, 2 ** 31);
  if (pool > height || pool > width) throw new RangeError(`packChannelsLast: a ${pool}x${pool} window does not fit ${height}x${width}`);
  const { outH, outW } = maxPool2dOutputSize({ batch: items, channels, height, width, kernel: pool, stride });
  if (items > dst.items || channels !== dst.channels || outH !== dst.height || outW !== dst.width) {
    throw new RangeError(`packChannelsLast: ${items} items of ${channels}x${outH}x${outW} do not fit "${dst.texture.label}" ` +
      `(${dst.items} of ${dst.channels}x${dst.height}x${dst.width})`);
  }
  const c4 = texelsPerRow(channels);
  const kernel = await getKernel(gpu, {
    shader: 'pack_channels_last',
    bindings: ['read', 'rgba32float_write'],
    constants: { R: items, C: channels, H: height, W: width, OH: outH, OW: outW, C4: c4, POOL: pool, STRIDE: stride, WG: PACK_WORKGROUP },
  });
  return { kernel, bindGroup: kernel.bind(gpu, [src, dst.view]), workgroups: workgroupGrid(ceilDiv(items * c4 * outH * outW, PACK_WORKGROUP)) };
}

/**
 * The convolution of `input` (packed channels-last, shape.batch items) with `weight` ([O, C, KH, KW]
 * packed channels-last as O items of C x KH x KW), + bias, then ReLU when options.relu, into `output`
 * as packMatrix would pack it flattened: shape.batch rows of O * OH * OW. One dispatch.
 */
export async function conv2dForwardImplicitGemm(
  gpu: Gpu,
  shape: Conv2dShape,
  options: { relu?: boolean; tiles?: Partial<ImplicitGemmTiles> },
  input: ChannelsLastTexture,
  weight: ChannelsLastTexture,
  bias: BufferArg,
  output: PackedMatrix,
): Promise<Dispatch> {
  if (!implicitGemmSuits(gpu, shape)) {
    throw new RangeError('conv2d implicit GEMM needs stride 1, no padding, output positions a multiple of 4, and textures this adapter allows');
  }
  const { batch: n, inChannels: c, height: h, width: w, outChannels: o, kernelH: kh, kernelW: kw } = shape;
  const { outH, outW } = conv2dOutputSize(shape);
  const positions = outH * outW;
  const tiles = { ...defaultImplicitGemmTiles(shape), ...options.tiles };
  checkInteger('tiles.rows', tiles.rows, 4, MAX_ROWS);
  if (tiles.rows % 4 !== 0) throw new RangeError(`conv2d implicit GEMM: tiles.rows must be a multiple of 4, got ${tiles.rows}`);
  checkInteger('tiles.columns', tiles.columns, 1, MAX_COLUMNS);
  checkInteger('tiles.workgroup', tiles.workgroup, 1, Math.min(gpu.limits.maxComputeInvocationsPerWorkgroup, gpu.limits.maxComputeWorkgroupSizeX));
  const fits = (t: ChannelsLastTexture, items: number, height: number, width: number) =>
    items <= t.items && t.channels === c && t.height === height && t.width === width;
  if (!fits(input, n, h, w)) {
    throw new RangeError(`conv2d implicit GEMM: input "${input.texture.label}" holds ${input.items} of ${input.channels}x${input.height}x` +
      `${input.width}, not ${n} of ${c}x${h}x${w}`);
  }
  if (!fits(weight, o, kh, kw)) {
    throw new RangeError(`conv2d implicit GEMM: weight "${weight.texture.label}" holds ${weight.items} of ${weight.channels}x` +
      `${weight.height}x${weight.width}, not ${o} of ${c}x${kh}x${kw}`);
  }
  if (n > output.rows || o * positions !== output.k || output.pageRows < output.rows) {
    throw new RangeError(`conv2d implicit GEMM: output "${output.texture.label}" must hold ${n} unpaged rows of ${o * positions}`);
  }
  const rowBlocks = ceilDiv(positions, tiles.rows);
  const columnBlocks = ceilDiv(o, tiles.columns);
  const kernel = await getKernel(gpu, {
    shader: 'conv2d_forward_implicit_gemm',
    bindings: ['texture', 'texture', 'read', 'rgba32float_write'],
    constants: {
      N: n, W: w, C4: texelsPerRow(c), O: o, KH: kh, KW: kw, OW: outW, P: positions,
      RELU: options.relu ? 1 : 0,
      ROWS: tiles.rows, COLS: tiles.columns, WG: tiles.workgroup,
      ROW_BLOCKS: rowBlocks, COL_BLOCKS: columnBlocks,
    },
  });
  return {
    kernel,
    bindGroup: kernel.bind(gpu, [input.view, weight.view, bias, output.view]),
    workgroups: workgroupGrid(ceilDiv(n * rowBlocks * columnBlocks, tiles.workgroup)),
  };
}
