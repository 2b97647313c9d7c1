// Dispatches shaders/normalize.wgsl: uint8 pixels -> normalized f32 activations.
import type { Gpu } from '../gpu/device.ts';
import { type Dispatch, getKernel } from '../gpu/kernel.ts';
import { ceilDiv, MNIST_MEAN, MNIST_STD } from '../util/shapes.ts';
import { grid } from './checks.ts';

export { MNIST_MEAN, MNIST_STD };

/** Per-channel mean and standard deviation of pixels as x / 255, one of each per input channel (at most 3). */
export interface Normalization {
  mean: readonly number[];
  std: readonly number[];
}

/** MNIST's published constants (PyTorch's example): what every one-channel model without its own uses. */
export const MNIST_NORMALIZATION: Normalization = Object.freeze({ mean: [MNIST_MEAN], std: [MNIST_STD] });

/** One mean and std for every channel (the older form), or one per channel over planes of `plane` values. */
export type PixelNormalization = { mean: number; std: number } | (Normalization & { plane: number });

/**
 * The override constants of shaders/include/normalize_pixel.wgsl: MEAN and STD (channel 0) and, past
 * one channel, the others and the plane size. One channel sets what the shaders set before per-channel
 * constants existed, so its pipelines, and its bits, are unchanged.
 */
export function normalizationConstants(n: PixelNormalization): Record<string, number> {
  if (typeof n.mean === 'number') return { MEAN: n.mean, STD: (n as { std: number }).std };
  const { mean, std, plane } = n as Normalization & { plane: number };
  const channels = mean.length;
  if (channels < 1 || channels > 3 || std.length !== channels) {
    throw new RangeError(
      `normalization: 1 to 3 channels with a mean and std each, got ${JSON.stringify({ mean, std })}`,
    );
  }
  if (![...mean, ...std].every(Number.isFinite) || std.some((s) => s <= 0)) {
    throw new RangeError(
      `normalization: finite means and positive stds expected, got ${JSON.stringify({ mean, std })}`,
    );
  }
  if (channels === 1) return { MEAN: mean[0], STD: std[0] };
  if (!Number.isInteger(plane) || plane < 1) {
    throw new RangeError(`normalization: plane must be a positive integer, got ${plane}`);
  }
  const constants: Record<string, number> = { MEAN: mean[0], STD: std[0], NORM_CHANNELS: channels, NORM_PLANE: plane };
  for (let c = 1; c < channels; c++) {
    constants[`MEAN${c}`] = mean[c];
    constants[`STD${c}`] = std[c];
  }
  return constants;
}

export interface NormalizeShape {
  count: number;
  mean?: number;
  std?: number;
  /** A mean and std per channel of planes of `plane` pixels (instead of mean and std). */
  normalization?: Normalization;
  plane?: number;
}

/** `pixels` holds `count` bytes packed into u32 words; `output` receives `count` f32 values. */
export async function normalize(
  gpu: Gpu,
  shape: NormalizeShape,
  pixels: GPUBuffer,
  output: GPUBuffer,
): Promise<Dispatch> {
  const workgroup = 256;
  const kernel = await getKernel(gpu, {
    shader: 'normalize',
    bindings: ['read', 'read_write'],
    constants: {
      COUNT: shape.count,
      ...normalizationConstants(
        shape.normalization
          ? { ...shape.normalization, plane: shape.plane ?? shape.count }
          : { mean: shape.mean ?? MNIST_MEAN, std: shape.std ?? MNIST_STD },
      ),
      WORKGROUP: workgroup,
    },
  });
  return {
    kernel,
    bindGroup: kernel.bind(gpu, [pixels, output]),
    workgroups: grid('normalize', ceilDiv(shape.count, workgroup)),
  };
}
