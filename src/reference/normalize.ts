// CPU reference of shaders/normalize.wgsl.
import { MNIST_MEAN, MNIST_STD } from '../util/shapes.ts';

export function normalizeReference(pixels: Uint8Array, mean = MNIST_MEAN, std = MNIST_STD): Float64Array {
  const out = new Float64Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = (pixels[i] / 255 - mean) / std;
  return out;
}

/** Per channel: pixel i belongs to channel (i / plane) % means.length. */
export function normalizeChannelsReference(
  pixels: Uint8Array,
  normalization: { mean: readonly number[]; std: readonly number[] },
  plane: number,
): Float64Array {
  const { mean, std } = normalization;
  const out = new Float64Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const c = Math.floor(i / plane) % mean.length;
    out[i] = (pixels[i] / 255 - mean[c]) / std[c];
  }
  return out;
}
