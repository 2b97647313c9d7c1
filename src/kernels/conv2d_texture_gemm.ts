// Dispatches shaders/conv2d_texture_gemm.wgsl and its packing kernel (conv2d_texture_gemm_pack.wgsl):
// a stride-1 convolution's forward and input gradient as implicit GEMMs from textures, for wide
// convolutions (tens of channels) on CPU drivers. The buffer kernels of conv2d.ts gather one float per
// load there; a texel fetch brings four channels, and a block of positions x output channels reuses
// each fetch many times (bench/RESULTS.md: 4-7x the buffer forward on `best`'s convolutions).
// The padding is written into the packed operand, so the product itself never tests a border.
import type { Gpu } from '../gpu/device.ts';
import { createRgba32fTexture, TEXTURE_USAGE } from '../gpu/buffers.ts';
import { type BufferArg, type Dispatch, getKernel } from '../gpu/kernel.ts';
import { ceilDiv, conv2dOutputSize, type Conv2dShape, texelsPerRow } from '../util/shapes.ts';
import { checkIntegers, checkSize, checkWorkgroup, grid, placeholderBuffer } from './checks.ts';
import { weightGradientPartials } from './conv2d.ts';
import { type ChannelsLastTexture, checkChannelsLast, createChannelsLastTexture, packChannelsLast } from './layout.ts';

const WHAT = 'conv2d texture GEMM';
const PACK_WORKGROUP = 64;
export const MAX_TEXTURE_GEMM_ROWS = 24;
export const MAX_TEXTURE_GEMM_COLUMNS = 24;

/** A register block of `rows` output positions x `columns` output channels per invocation. */
export interface TextureGemmTiles {
  rows: number;
  columns: number;
  workgroup: number;
}

/**
 * 16 positions (fewer where an image has fewer) x all output channels up to 24, else the fewest blocks of
 * at most 24: 16 x 16-24 was fastest or within noise of it on `best`'s shapes, forward and input
 * gradient (bench/RESULTS.md, 2026-12-07). The tuner may choose others.
 */
export function defaultTextureGemmTiles(positions: number, outChannels: number): TextureGemmTiles {
  const blocks = ceilDiv(outChannels, MAX_TEXTURE_GEMM_COLUMNS);
  return { rows: Math.min(16, 4 * ceilDiv(positions, 4)), columns: ceilDiv(outChannels, blocks), workgroup: 8 };
}

/** NCHW planes zero-padded and packed channels-last, one tile per item (conv2d_texture_gemm_pack.wgsl, MODE 0). */
export interface TiledPlanes {
  readonly texture: GPUTexture;
  readonly view: GPUTextureView;
  readonly items: number;
  readonly channels: number;
  /** Unpadded plane size, and the zeros around it. */
  readonly height: number;
  readonly width: number;
  readonly pad: number;
  /** Tiles per texture row. */
  readonly perRow: number;
}

interface PlanesShape {
  items: number;
  channels: number;
  height: number;
  width: number;
  pad: number;
}

/** How the tiles of `shape` lie in a texture under this size limit, or undefined where they do not fit. */
export function tiledPlanesLayout(
  limits: { maxTextureDimension2D: number },
  { items, channels, height, width, pad }: PlanesShape,
): { perRow: number; textureWidth: number; textureHeight: number } | undefined {
  const max = limits.maxTextureDimension2D;
  const tileW = (width + 2 * pad) * texelsPerRow(channels);
  const tileH = height + 2 * pad;
  const perRow = Math.min(items, Math.floor(max / tileW));
  if (perRow < 1) return;
  const textureHeight = ceilDiv(items, perRow) * tileH;
  if (textureHeight > max) return;
  return { perRow, textureWidth: perRow * tileW, textureHeight };
}

/** A texture for `items` planes of channels x height x width padded by `pad`. The caller destroys it. */
export function createTiledPlanes(gpu: Gpu, label: string, shape: PlanesShape): TiledPlanes {
  const layout = tiledPlanesLayout(gpu.limits, shape);
  if (!layout) {
    throw new RangeError(
      `${WHAT}: ${shape.items} planes of ${shape.channels}x${shape.height}x${shape.width} padded by ${shape.pad} ` +
        `do not fit a texture of at most ${gpu.limits.maxTextureDimension2D} a side; use a smaller batch`,
    );
  }
  const texture = createRgba32fTexture(gpu, label, layout.textureWidth, layout.textureHeight, TEXTURE_USAGE);
  return { texture, view: texture.createView({ label }), ...shape, perRow: layout.perRow };
}

/** Packs `items` NCHW planes of `src` into `dst` with its padding. One dispatch. */
export async function packTiledPlanes(gpu: Gpu, items: number, src: BufferArg, dst: TiledPlanes): Promise<Dispatch> {
  checkIntegers(`${WHAT} pack`, { items }, 1, dst.items);
  const { channels, height, width, pad } = dst;
  const c4 = texelsPerRow(channels);
  const kernel = await getKernel(gpu, {
    shader: 'conv2d_texture_gemm_pack',
    bindings: ['read', 'rgba32float_write'],
    constants: {
      MODE: 0,
      R: items,
      C: channels,
      H: height,
      W: width,
      PAD: pad,
      C4: c4,
      PER_ROW: dst.perRow,
      WG: PACK_WORKGROUP,
    },
  });
  const texels = items * c4 * (height + 2 * pad) * (width + 2 * pad);
  return {
    kernel,
    bindGroup: kernel.bind(gpu, [src, dst.view]),
    workgroups: grid(`${WHAT} pack`, ceilDiv(texels, PACK_WORKGROUP)),
  };
}

/**
 * Packs weights [O, C, KH, KW] for the input gradient: flipped and transposed, as `C` items of
 * O x KH x KW channels-last (the layout packChannelsLast gives the forward's weights). One dispatch.
 */
export async function packFlippedWeights(
  gpu: Gpu,
  shape: Conv2dShape,
  weight: BufferArg,
  dst: ChannelsLastTexture,
): Promise<Dispatch> {
  const { inChannels: c, outChannels: o, kernelH: kh, kernelW: kw } = shape;
  checkChannelsLast(`${WHAT}: flipped weights`, dst, c, o, kh, kw);
  const o4 = texelsPerRow(o);
  const kernel = await getKernel(gpu, {
    shader: 'conv2d_texture_gemm_pack',
    bindings: ['read', 'rgba32float_write'],
    constants: { MODE: 1, R: o, C: c, H: kh, W: kw, C4: o4, WG: PACK_WORKGROUP },
  });
  return {
    kernel,
    bindGroup: kernel.bind(gpu, [weight, dst.view]),
    workgroups: grid(`${WHAT} pack`, ceilDiv(c * kh * kw * o4, PACK_WORKGROUP)),
  };
}

/** The padding of the output gradient that makes the input gradient a forward: kernel - 1 - padding. */
const gradientPad = (shape: Conv2dShape) => shape.kernelH - 1 - (shape.padding ?? 0);

/**
 * Whether the texture GEMM can run `shape` on this adapter: stride 1, a square kernel, padding below the
 * kernel, and every operand within the texture size limit (the input gradient's too when `training`).
 */
export function textureGemmSuits(
  limits: { maxTextureDimension2D: number },
  shape: Conv2dShape,
  training: boolean,
): boolean {
  const { batch, inChannels: c, outChannels: o, kernelH: kh, kernelW: kw, height, width } = shape;
  const pad = shape.padding ?? 0;
  const max = limits.maxTextureDimension2D;
  if ((shape.stride ?? 1) !== 1 || kh !== kw || pad > kh - 1) return false;
  if (o > max || kh * kw * texelsPerRow(c) > max) return false;
  if (!tiledPlanesLayout(limits, { items: batch, channels: c, height, width, pad })) return false;
  if (!training) return true;
  const { outH, outW } = conv2dOutputSize(shape);
  return c <= max && kh * kw * texelsPerRow(o) <= max &&
    tiledPlanesLayout(limits, { items: batch, channels: o, height: outH, width: outW, pad: gradientPad(shape) }) !==
      undefined;
}

/**
 * The textures a layer's forward and (when training) gradients pack their operands into. The output
 * gradient, padded for the input gradient, serves the weight gradient too (which packs it).
 */
export interface TextureGemmOperands {
  input: TiledPlanes;
  weight: ChannelsLastTexture;
  gradOutput?: TiledPlanes;
  flippedWeight?: ChannelsLastTexture;
}

/**
 * Operands for `shape.batch` items (at most): the forward's; with `gradients` 'weight' the packed
 * output gradient the weight gradient reads, with 'both' the input gradient's flipped weights too.
 * The caller destroys them.
 */
export function createTextureGemmOperands(
  gpu: Gpu,
  label: string,
  shape: Conv2dShape,
  gradients: 'none' | 'weight' | 'both',
): TextureGemmOperands {
  const { batch: items, inChannels: c, outChannels: o, kernelH: kh, kernelW: kw, height, width } = shape;
  const { outH, outW } = conv2dOutputSize(shape);
  return {
    input: createTiledPlanes(gpu, `${label}.input.tiled`, {
      items,
      channels: c,
      height,
      width,
      pad: shape.padding ?? 0,
    }),
    weight: createChannelsLastTexture(gpu, `${label}.weight.channels-last`, o, c, kh, kw),
    ...(gradients !== 'none'
      ? {
        gradOutput: createTiledPlanes(gpu, `${label}.gradOutput.tiled`, {
          items,
          channels: o,
          height: outH,
          width: outW,
          pad: gradientPad(shape),
        }),
      }
      : {}),
    ...(gradients === 'both'
      ? { flippedWeight: createChannelsLastTexture(gpu, `${label}.weight.flipped`, c, o, kh, kw) }
      : {}),
  };
}

/** The textures `operands` holds (those made), for whoever tracks or destroys them. */
export const textureGemmTextures = (operands: TextureGemmOperands): { texture: GPUTexture }[] =>
  [operands.input, operands.weight, operands.gradOutput, operands.flippedWeight].filter((t) => t !== undefined);

export function destroyTextureGemmOperands(operands: TextureGemmOperands): void {
  for (const t of textureGemmTextures(operands)) t.texture.destroy();
}

/** The product itself: a valid stride-1 convolution of `input`'s padded planes into NCHW `output`. */
async function textureGemm(
  gpu: Gpu,
  items: number,
  input: TiledPlanes,
  weight: ChannelsLastTexture,
  bias: BufferArg | undefined,
  output: BufferArg,
  options: { relu?: boolean; tiles: TextureGemmTiles },
): Promise<Dispatch> {
  const { rows, columns, workgroup } = options.tiles;
  checkIntegers(WHAT, { 'tiles.rows': rows }, 1, MAX_TEXTURE_GEMM_ROWS);
  checkIntegers(WHAT, { 'tiles.columns': columns }, 1, MAX_TEXTURE_GEMM_COLUMNS);
  checkWorkgroup(gpu, WHAT, 'tiles.workgroup', workgroup);
  const kh = weight.height;
  const kw = weight.width;
  const outH = input.height + 2 * input.pad - kh + 1;
  const outW = input.width + 2 * input.pad - kw + 1;
  const o = weight.items;
  if (weight.channels !== input.channels || outH < 1 || outW < 1) {
    throw new RangeError(`${WHAT}: weights of ${weight.channels} channels do not fit planes of ${input.channels}`);
  }
  const rowBlocks = ceilDiv(outH * outW, rows);
  const colBlocks = ceilDiv(o, columns);
  const kernel = await getKernel(gpu, {
    shader: 'conv2d_texture_gemm',
    bindings: ['texture', 'texture', 'read', 'read_write'],
    constants: {
      N: items,
      C4: texelsPerRow(input.channels),
      O: o,
      KH: kh,
      KW: kw,
      OH: outH,
      OW: outW,
      PER_ROW: input.perRow,
      HAS_BIAS: bias ? 1 : 0,
      RELU: options.relu ? 1 : 0,
      ROWS: rows,
      COLS: columns,
      WG: workgroup,
      ROW_BLOCKS: rowBlocks,
      COL_BLOCKS: colBlocks,
    },
  });
  return {
    kernel,
    bindGroup: kernel.bind(gpu, [input.view, weight.view, bias ?? placeholderBuffer(gpu), output]),
    workgroups: grid(WHAT, ceilDiv(items * rowBlocks * colBlocks, workgroup)),
  };
}

function checkShape(shape: Conv2dShape, operands: TextureGemmOperands): void {
  if ((shape.stride ?? 1) !== 1) throw new RangeError(`${WHAT} runs stride 1 only, got ${shape.stride}`);
  const { batch, inChannels: c, height, width, outChannels: o, kernelH: kh, kernelW: kw } = shape;
  const t = operands.input;
  if (
    batch > t.items || t.channels !== c || t.height !== height || t.width !== width || t.pad !== (shape.padding ?? 0)
  ) {
    throw new RangeError(`${WHAT}: "${t.texture.label}" does not hold ${batch} planes of ${c}x${height}x${width}`);
  }
  checkChannelsLast(`${WHAT}: weight`, operands.weight, o, c, kh, kw);
}

/**
 * The forward, + bias, then ReLU when options.relu: packs `input` (and the weights, unless
 * `weightPrepacked`), then one product. Sums in another order than conv2dForward (see the shader).
 */
export async function conv2dForwardTextureGemm(
  gpu: Gpu,
  shape: Conv2dShape,
  options: { relu?: boolean; tiles?: Partial<TextureGemmTiles>; weightPrepacked?: boolean },
  input: BufferArg,
  weight: BufferArg,
  bias: BufferArg,
  output: BufferArg,
  operands: TextureGemmOperands,
): Promise<Dispatch[]> {
  checkShape(shape, operands);
  const { outH, outW } = conv2dOutputSize(shape);
  const tiles = { ...defaultTextureGemmTiles(outH * outW, shape.outChannels), ...options.tiles };
  return [
    await packTiledPlanes(gpu, shape.batch, input, operands.input),
    ...(options.weightPrepacked ? [] : [await packTextureGemmWeight(gpu, shape, weight, operands)]),
    await textureGemm(gpu, shape.batch, operands.input, operands.weight, bias, output, { relu: options.relu, tiles }),
  ];
}

/** Packs the forward's weights (once per upload where they do not change between passes). */
export function packTextureGemmWeight(
  gpu: Gpu,
  shape: Conv2dShape,
  weight: BufferArg,
  operands: TextureGemmOperands,
): Promise<Dispatch> {
  const { inChannels: channels, outChannels: items, kernelH: height, kernelW: width } = shape;
  return packChannelsLast(gpu, { items, channels, height, width }, weight, operands.weight);
}

/** The packed output gradient of `operands`, checked against `shape`. */
function gradOutputPlanes(shape: Conv2dShape, operands: TextureGemmOperands): TiledPlanes {
  const planes = operands.gradOutput;
  if (!planes) throw new RangeError(`${WHAT}: no texture for the output gradient was made`);
  const { outH, outW } = conv2dOutputSize(shape);
  if (
    shape.batch > planes.items || planes.channels !== shape.outChannels || planes.height !== outH ||
    planes.width !== outW || planes.pad !== gradientPad(shape)
  ) {
    throw new RangeError(`${WHAT}: "${planes.texture.label}" does not hold this shape's output gradient`);
  }
  return planes;
}

/**
 * The input gradient (overwrites `gradInput`): packs `gradOutput` padded by kernel - 1 - padding
 * (unless `gradOutputPacked`: the weight gradient of the same step packed it already) and the weights
 * flipped and transposed, then the same product without bias.
 */
export async function conv2dBackwardInputTextureGemm(
  gpu: Gpu,
  shape: Conv2dShape,
  options: { tiles?: Partial<TextureGemmTiles>; gradOutputPacked?: boolean },
  gradOutput: BufferArg,
  weight: BufferArg,
  gradInput: BufferArg,
  operands: TextureGemmOperands,
): Promise<Dispatch[]> {
  checkShape(shape, operands);
  const planes = gradOutputPlanes(shape, operands);
  const flippedWeight = operands.flippedWeight;
  if (!flippedWeight) throw new RangeError(`${WHAT}: no flipped weights for the input gradient were made`);
  const tiles = { ...defaultTextureGemmTiles(shape.height * shape.width, shape.inChannels), ...options.tiles };
  return [
    ...(options.gradOutputPacked ? [] : [await packTiledPlanes(gpu, shape.batch, gradOutput, planes)]),
    await packFlippedWeights(gpu, shape, weight, flippedWeight),
    await textureGemm(gpu, shape.batch, planes, flippedWeight, undefined, gradInput, { tiles }),
  ];
}

export const MAX_WEIGHT_OUT_BLOCK = 6;
export const MAX_WEIGHT_COLUMN_BLOCK = 8;

/**
 * The weight gradient's blocks (conv2d_texture_gemm_weight.wgsl): `outBlock` texels of output channels
 * (4 channels each) x `columnBlock` texels of taps per invocation, over `rowsPerSplit` image rows (n, y)
 * of k; the splits are then added in order, `reduceWorkgroup` outputs per workgroup.
 */
export interface TextureGemmWeightTiles {
  outBlock: number;
  columnBlock: number;
  rowsPerSplit: number;
  workgroup: number;
  reduceWorkgroup: number;
}

/** Defaults: see the sweep in bench/RESULTS.md (2026-12-07). */
export function defaultTextureGemmWeightTiles(shape: Conv2dShape): TextureGemmWeightTiles {
  const { batch, inChannels: c, outChannels: o, kernelH: kh, kernelW: kw } = shape;
  const { outH } = conv2dOutputSize(shape);
  const oBlocks = ceilDiv(texelsPerRow(o), MAX_WEIGHT_OUT_BLOCK);
  const outBlock = ceilDiv(texelsPerRow(o), oBlocks);
  const taps = kh * kw * texelsPerRow(c);
  const colBlocks = ceilDiv(taps, MAX_WEIGHT_COLUMN_BLOCK);
  const columnBlock = ceilDiv(taps, colBlocks);
  // Enough splits for 128 blocks (16 workgroups of 8) to share among the cores, few enough that each
  // sums a long run of k.
  const splits = Math.max(1, Math.min(batch * outH, Math.ceil(128 / (oBlocks * colBlocks))));
  return { outBlock, columnBlock, rowsPerSplit: ceilDiv(batch * outH, splits), workgroup: 8, reduceWorkgroup: 64 };
}

/**
 * The weight and bias gradients (overwrite `gradWeight` [O, C, KH, KW] and `gradBias` [O]) from the
 * forward's packed input (`operands.input`, still holding this step's input) and `gradOutput`, which
 * this packs into `operands.gradOutput` for the input gradient to reuse (see its `gradOutputPacked`).
 * Three dispatches: the pack, partial sums over splits of the image rows, their sum in split order.
 */
export async function conv2dBackwardWeightTextureGemm(
  gpu: Gpu,
  shape: Conv2dShape,
  options: { tiles?: Partial<TextureGemmWeightTiles> },
  gradOutput: BufferArg,
  gradWeight: BufferArg,
  gradBias: BufferArg,
  operands: TextureGemmOperands,
): Promise<Dispatch[]> {
  checkShape(shape, operands);
  const planes = gradOutputPlanes(shape, operands);
  const tiles = { ...defaultTextureGemmWeightTiles(shape), ...options.tiles };
  const { outBlock, columnBlock, rowsPerSplit, workgroup, reduceWorkgroup } = tiles;
  checkIntegers(WHAT, { 'tiles.outBlock': outBlock }, 1, MAX_WEIGHT_OUT_BLOCK);
  checkIntegers(WHAT, { 'tiles.columnBlock': columnBlock }, 1, MAX_WEIGHT_COLUMN_BLOCK);
  checkIntegers(WHAT, { 'tiles.rowsPerSplit': rowsPerSplit });
  checkWorkgroup(gpu, WHAT, 'tiles.workgroup', workgroup);
  checkWorkgroup(gpu, WHAT, 'tiles.reduceWorkgroup', reduceWorkgroup);
  const { batch, inChannels: c, outChannels: o, kernelH: kh, kernelW: kw } = shape;
  const { outH, outW } = conv2dOutputSize(shape);
  const weights = o * c * kh * kw;
  checkSize(WHAT, 'gradOutput', gradOutput, batch * o * outH * outW);
  checkSize(WHAT, 'gradWeight', gradWeight, weights);
  checkSize(WHAT, 'gradBias', gradBias, o);
  const o4 = texelsPerRow(o);
  const c4 = texelsPerRow(c);
  const splits = ceilDiv(batch * outH, rowsPerSplit);
  const oBlocks = ceilDiv(o4, outBlock);
  const colBlocks = ceilDiv(kh * kw * c4, columnBlock);
  const partial = weightGradientPartials(gpu, splits * (weights + o));
  const product = await getKernel(gpu, {
    shader: 'conv2d_texture_gemm_weight',
    bindings: ['texture', 'texture', 'read_write'],
    constants: {
      N: batch,
      C: c,
      C4: c4,
      O: o,
      O4: o4,
      KH: kh,
      KW: kw,
      OH: outH,
      OW: outW,
      GP: planes.pad,
      PER_ROW_I: operands.input.perRow,
      PER_ROW_G: planes.perRow,
      OB: outBlock,
      TB: columnBlock,
      ROWS_PER_SPLIT: rowsPerSplit,
      SPLITS: splits,
      O_BLOCKS: oBlocks,
      COL_BLOCKS: colBlocks,
      WG: workgroup,
    },
  });
  const reduce = await getKernel(gpu, {
    shader: 'conv2d_backward_weight_reduce',
    bindings: ['read', 'read_write', 'read_write'],
    constants: { WEIGHTS: weights, O: o, CHUNKS: splits, WG: reduceWorkgroup },
  });
  return [
    await packTiledPlanes(gpu, batch, gradOutput, planes),
    {
      kernel: product,
      bindGroup: product.bind(gpu, [operands.input.view, planes.view, partial]),
      workgroups: grid(WHAT, ceilDiv(splits * oBlocks * colBlocks, workgroup)),
    },
    {
      kernel: reduce,
      bindGroup: reduce.bind(gpu, [partial, gradWeight, gradBias]),
      workgroups: grid(WHAT, ceilDiv(weights + o, reduceWorkgroup)),
    },
  ];
}
