// CPU reference of the texture layouts the packing kernels write (each texel 4 floats, in order).
import { ceilDiv } from '../util/shapes.ts';

/**
 * What shaders/pack_channels_last.wgsl (with a 1x1 window) writes for NCHW `values`: per item, per
 * position y * width + x, ceil(channels / 4) texels of 4 channels, zeros past the last channel.
 */
export function channelsLastReference(
  items: number,
  channels: number,
  height: number,
  width: number,
  values: ArrayLike<number>,
): Float64Array {
  const c4 = ceilDiv(channels, 4);
  const positions = height * width;
  const out = new Float64Array(items * positions * c4 * 4);
  for (let r = 0; r < items; r++) {
    for (let c = 0; c < channels; c++) {
      for (let p = 0; p < positions; p++) {
        out[(r * positions + p) * c4 * 4 + c] = values[(r * channels + c) * positions + p];
      }
    }
  }
  return out;
}
