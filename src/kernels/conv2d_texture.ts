// Dispatches shaders/conv2d_forward_texture.wgsl: conv2d's forward (conv2d.ts's result, bit for bit)
// from its input and weights packed into textures (layout.ts), optionally max-pooling 2x2 as it stores
// into the next convolution's channels-last input. Its register block is chosen in conv2d_tiles.ts.
import type { Gpu } from '../gpu/device.ts';
import { type BufferArg, type Dispatch, getKernel } from '../gpu/kernel.ts';
import { ceilDiv, type Conv2dShape } from '../util/shapes.ts';
import { checkIntegers, checkSize, checkWorkgroup, grid, placeholderTexture } from './checks.ts';
import { checkForwardBindings, resolveConv2dShape } from './conv2d.ts';
import {
  conv2dTexturePoolSuits,
  conv2dTextureSuits,
  type Conv2dTextureTiles,
  defaultTexturePoolTiles,
  defaultTextureTiles,
  MAX_TEXTURE_CHANNELS,
  MAX_TEXTURE_KERNEL_W,
} from './conv2d_tiles.ts';
import {
  type ChannelsLastTexture,
  checkChannelsLast,
  createPackedMatrix,
  type PackedMatrix,
  packMatrix,
  texelsPerRow,
} from './layout.ts';

export { conv2dTexturePoolSuits, conv2dTextureSuits, type Conv2dTextureTiles, defaultTextureTiles };

/** Textures the texture forward packs its input and weights into (createConv2dPackedOperands). */
export interface Conv2dPackedOperands {
  input: PackedMatrix;
  weight: PackedMatrix;
}

/** Textures for the texture forward of `shape` at up to shape.batch images. The caller destroys them. */
export function createConv2dPackedOperands(gpu: Gpu, label: string, shape: Conv2dShape): Conv2dPackedOperands {
  const s = resolveConv2dShape(shape);
  return {
    input: createPackedMatrix(gpu, `${label}.input.packed`, s.N * s.C * s.H, s.W, { paged: true }),
    weight: createPackedMatrix(gpu, `${label}.weight.packed`, s.O * s.C * s.KH, s.KW),
  };
}

/** Packs the weights into `packed.weight` for conv2dForwardTexture (once per upload, for forward-only networks). */
export function packConv2dTextureWeight(
  gpu: Gpu,
  shape: Conv2dShape,
  weight: BufferArg,
  packed: Conv2dPackedOperands,
): Promise<Dispatch> {
  const s = resolveConv2dShape(shape);
  checkSize('conv2d', 'weight', weight, s.O * s.C * s.KH * s.KW);
  return packMatrix(gpu, { rows: s.O * s.C * s.KH, k: s.KW }, weight, packed.weight);
}

/**
 * conv2dForward's result, from textures: packs the input (unless options.inputPrepacked: the caller did,
 * e.g. from pixels with packMatrix's normalizePixels) and the weights (unless options.weightPrepacked:
 * packConv2dTextureWeight did) into `packed`, then runs shaders/conv2d_forward_texture.wgsl. Up to three
 * dispatches; the shape must suit (conv2dTextureSuits). With options.pooled, the output is max-pooled 2x2
 * at stride 2 and written there, channels-last (as packChannelsLast would), instead of to `output`.
 */
export async function conv2dForwardTexture(
  gpu: Gpu,
  shape: Conv2dShape,
  options: {
    relu?: boolean;
    tiles?: Partial<Conv2dTextureTiles>;
    inputPrepacked?: boolean;
    weightPrepacked?: boolean;
    pooled?: ChannelsLastTexture;
  },
  input: BufferArg,
  weight: BufferArg,
  bias: BufferArg,
  output: BufferArg,
  packed: Conv2dPackedOperands,
): Promise<Dispatch[]> {
  const s = resolveConv2dShape(shape);
  if (!conv2dTextureSuits(shape)) {
    throw new RangeError(
      `conv2d from textures needs stride 1, no padding and a kernel 4..${MAX_TEXTURE_KERNEL_W} wide`,
    );
  }
  const pooled = options.pooled;
  const tiles = { ...(pooled ? defaultTexturePoolTiles(shape) : defaultTextureTiles(shape)), ...options.tiles };
  if (pooled) {
    if (!conv2dTexturePoolSuits(shape)) {
      throw new RangeError('conv2d from textures pools only up to 10 channels of outputs at least 2x2');
    }
    if (tiles.channelBlock !== s.O || tiles.rows % 2 !== 0) {
      throw new RangeError(
        `conv2d from textures: pooling needs every channel in a block (${s.O}) and an even number of rows`,
      );
    }
    checkChannelsLast('conv2d from textures', pooled, s.N, s.O, Math.floor(s.OH / 2), Math.floor(s.OW / 2));
  }
  checkIntegers('conv2d', { 'texture channelBlock': tiles.channelBlock }, 1, MAX_TEXTURE_CHANNELS);
  checkIntegers('conv2d', { 'texture rows': tiles.rows }, 1, 4);
  checkIntegers('conv2d', { 'texture columnTexels': tiles.columnTexels }, 1, 2);
  checkWorkgroup(gpu, 'conv2d', 'texture workgroup', tiles.workgroup);
  checkForwardBindings(s, input, weight, bias, output);

  const oBlocks = ceilDiv(s.O, tiles.channelBlock);
  const yBlocks = ceilDiv(s.OH, tiles.rows);
  const xBlocks = ceilDiv(s.OW, 4 * tiles.columnTexels);
  const kernel = await getKernel(gpu, {
    shader: 'conv2d_forward_texture',
    bindings: ['texture', 'texture', 'read', 'read_write', 'rgba32float_write'],
    constants: {
      N: s.N,
      C: s.C,
      H: s.H,
      O: s.O,
      KH: s.KH,
      KW: s.KW,
      OH: s.OH,
      OW: s.OW,
      W4: texelsPerRow(s.W),
      KW4: texelsPerRow(s.KW),
      PAGE: packed.input.pageRows,
      RELU: options.relu ? 1 : 0,
      POOL: pooled ? 1 : 0,
      OC_BLOCK: tiles.channelBlock,
      ROWS: tiles.rows,
      QX: tiles.columnTexels,
      WG: tiles.workgroup,
      O_BLOCKS: oBlocks,
      Y_BLOCKS: yBlocks,
      X_BLOCKS: xBlocks,
    },
  });
  return [
    ...(options.inputPrepacked ? [] : [await packMatrix(gpu, { rows: s.N * s.C * s.H, k: s.W }, input, packed.input)]),
    ...(options.weightPrepacked ? [] : [await packConv2dTextureWeight(gpu, shape, weight, packed)]),
    {
      kernel,
      bindGroup: kernel.bind(gpu, [
        packed.input.view,
        packed.weight.view,
        bias,
        output,
        pooled?.view ?? placeholderTexture(gpu),
      ]),
      workgroups: grid('conv2d', ceilDiv(s.N * oBlocks * yBlocks * xBlocks, tiles.workgroup)),
    },
  ];
}
