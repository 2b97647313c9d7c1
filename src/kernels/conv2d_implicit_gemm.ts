// Dispatches shaders/conv2d_forward_implicit_gemm.wgsl: a stride-1, unpadded convolution computed as a
// product from textures, its input and weights packed channels-last (layout.ts), 4 channels to a texel,
// and its output written packed for a following linear layer's texture product. conv2's 3x3 kernel
// chains too few taps per store for conv2d_texture.ts, but 10 channels make 3 texels per tap here.
import type { Gpu } from '../gpu/device.ts';
import { type BufferArg, type Dispatch, getKernel } from '../gpu/kernel.ts';
import { ceilDiv, conv2dOutputSize, type Conv2dShape } from '../util/shapes.ts';
import { checkIntegers, checkWorkgroup, grid } from './checks.ts';
import {
  defaultImplicitGemmTiles,
  implicitGemmSuits,
  type ImplicitGemmTiles,
  MAX_IMPLICIT_GEMM_COLUMNS,
  MAX_IMPLICIT_GEMM_ROWS,
} from './conv2d_tiles.ts';
import { registerBlock } from './matmul.ts';
import { type ChannelsLastTexture, checkChannelsLast, type PackedMatrix, texelsPerRow } from './layout.ts';

export { defaultImplicitGemmTiles, implicitGemmSuits, type ImplicitGemmTiles };

const WHAT = 'conv2d implicit GEMM';

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
  if (!implicitGemmSuits(gpu.limits, shape)) {
    throw new RangeError(
      `${WHAT} needs stride 1, no padding, output positions a multiple of 4, and textures this adapter allows`,
    );
  }
  const { batch: n, inChannels: c, height: h, width: w, outChannels: o, kernelH: kh, kernelW: kw } = shape;
  const { outH, outW } = conv2dOutputSize(shape);
  const positions = outH * outW;
  const tiles = { ...defaultImplicitGemmTiles(shape), ...options.tiles };
  checkIntegers(WHAT, { 'tiles.rows': tiles.rows }, 4, MAX_IMPLICIT_GEMM_ROWS);
  if (tiles.rows % 4 !== 0) throw new RangeError(`${WHAT}: tiles.rows must be a multiple of 4, got ${tiles.rows}`);
  checkIntegers(WHAT, { 'tiles.columns': tiles.columns }, 1, MAX_IMPLICIT_GEMM_COLUMNS);
  checkWorkgroup(gpu, WHAT, 'tiles.workgroup', tiles.workgroup);
  checkChannelsLast(`${WHAT}: input`, input, n, c, h, w);
  checkChannelsLast(`${WHAT}: weight`, weight, o, c, kh, kw);
  if (n > output.rows || o * positions !== output.k || output.pageRows < output.rows) {
    throw new RangeError(`${WHAT}: output "${output.texture.label}" must hold ${n} unpaged rows of ${o * positions}`);
  }
  // Per item, a product of positions x output channels.
  const block = registerBlock(tiles, positions, o);
  const kernel = await getKernel(gpu, {
    shader: 'conv2d_forward_implicit_gemm',
    bindings: ['texture', 'texture', 'read', 'rgba32float_write'],
    constants: {
      N: n,
      W: w,
      C4: texelsPerRow(c),
      O: o,
      KH: kh,
      KW: kw,
      OW: outW,
      P: positions,
      RELU: options.relu ? 1 : 0,
      ...block.constants,
    },
  });
  return {
    kernel,
    bindGroup: kernel.bind(gpu, [input.view, weight.view, bias, output.view]),
    workgroups: grid(WHAT, ceilDiv(n * block.constants.ROW_BLOCKS * block.constants.COL_BLOCKS, tiles.workgroup)),
  };
}
