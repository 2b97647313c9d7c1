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
import { checkIntegers, checkWorkgroup, grid, placeholderBuffer } from './checks.ts';
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

/** The textures a layer's forward and (when training) input gradient pack their operands into. */
export interface TextureGemmOperands {
  input: TiledPlanes;
  weight: ChannelsLastTexture;
  gradOutput?: TiledPlanes;
  flippedWeight?: ChannelsLastTexture;
}

/** Operands for `shape.batch` items (at most); `inputGradient` adds those of the input gradient. The caller destroys them. */
export function createTextureGemmOperands(
  gpu: Gpu,
  label: string,
  shape: Conv2dShape,
  inputGradient: boolean,
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
    ...(inputGradient
      ? {
        gradOutput: createTiledPlanes(gpu, `${label}.gradOutput.tiled`, {
          items,
          channels: o,
          height: outH,
          width: outW,
          pad: gradientPad(shape),
        }),
        flippedWeight: createChannelsLastTexture(gpu, `${label}.weight.flipped`, c, o, kh, kw),
      }
      : {}),
  };
}

export function destroyTextureGemmOperands(operands: TextureGemmOperands): void {
  for (const t of [operands.input, operands.weight, operands.gradOutput, operands.flippedWeight]) t?.texture.destroy();
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

/**
 * The input gradient (overwrites `gradInput`): packs `gradOutput` padded by kernel - 1 - padding and
 * the weights flipped and transposed, then the same product without bias.
 */
export async function conv2dBackwardInputTextureGemm(
  gpu: Gpu,
  shape: Conv2dShape,
  options: { tiles?: Partial<TextureGemmTiles> },
  gradOutput: BufferArg,
  weight: BufferArg,
  gradInput: BufferArg,
  operands: TextureGemmOperands,
): Promise<Dispatch[]> {
  checkShape(shape, operands);
  const { gradOutput: planes, flippedWeight } = operands;
  if (!planes || !flippedWeight) throw new RangeError(`${WHAT}: no operands for the input gradient were made`);
  const { outH, outW } = conv2dOutputSize(shape);
  if (
    shape.batch > planes.items || planes.channels !== shape.outChannels || planes.height !== outH ||
    planes.width !== outW || planes.pad !== gradientPad(shape)
  ) {
    throw new RangeError(`${WHAT}: "${planes.texture.label}" does not hold this shape's output gradient`);
  }
  const tiles = { ...defaultTextureGemmTiles(shape.height * shape.width, shape.inChannels), ...options.tiles };
  return [
    await packTiledPlanes(gpu, shape.batch, gradOutput, planes),
    await packFlippedWeights(gpu, shape, weight, flippedWeight),
    await textureGemm(gpu, shape.batch, planes, flippedWeight, undefined, gradInput, { tiles }),
  ];
}
