// Dispatches shaders/augment_affine.wgsl: random affine augmentation of a training batch, normalized
// as it is written (it replaces normalize.wgsl for augmented training steps).
import type { Gpu } from '../gpu/device.ts';
import { type BufferArg, type Dispatch, getKernel } from '../gpu/kernel.ts';
import { AUGMENT_SALT, type AugmentOptions, type AugmentShape } from '../reference/augment.ts';
import { ceilDiv, MNIST_MEAN, MNIST_STD } from '../util/shapes.ts';
import { checkIntegers, checkSize, grid } from './checks.ts';
import { RNG_UNIFORM_BYTES } from './dropout.ts';
import { type Normalization, normalizationConstants } from './normalize.ts';

export type { AugmentOptions, AugmentShape };

/** The augmentation `--augment` turns on (M5-like: small rotations, scales and shifts). */
export const DEFAULT_AUGMENT: AugmentOptions = Object.freeze({ rotation: 10, minScale: 0.9, maxScale: 1.1, shift: 2 });

const WG = 64;

export async function augmentAffine(
  gpu: Gpu,
  shape: AugmentShape,
  options: AugmentOptions,
  rng: BufferArg,
  pixels: BufferArg,
  output: BufferArg,
  normalization: { mean: number; std: number } | Normalization = { mean: MNIST_MEAN, std: MNIST_STD },
): Promise<Dispatch[]> {
  const { batch, channels, height, width } = shape;
  checkIntegers('augmentAffine', { batch, channels, height, width });
  const { rotation, minScale, maxScale, shift } = options;
  if (
    ![rotation, minScale, maxScale, shift].every(Number.isFinite) || rotation < 0 || shift < 0 ||
    !(minScale > 0 && minScale <= maxScale)
  ) {
    throw new RangeError(
      `augmentAffine: expected rotation >= 0, 0 < minScale <= maxScale, shift >= 0; got ${JSON.stringify(options)}`,
    );
  }
  const count = batch * channels * height * width;
  checkSize('augmentAffine', 'pixels', pixels, ceilDiv(count, 4));
  checkSize('augmentAffine', 'output', output, count);
  checkSize('augmentAffine', 'rng', rng, RNG_UNIFORM_BYTES / 4);
  const kernel = await getKernel(gpu, {
    shader: 'augment_affine',
    bindings: ['uniform', 'read', 'read_write'],
    constants: {
      BATCH: batch,
      CHANNELS: channels,
      HEIGHT: height,
      WIDTH: width,
      MAX_ROTATION: rotation * Math.PI / 180,
      MIN_SCALE: minScale,
      MAX_SCALE: maxScale,
      MAX_SHIFT: shift,
      ...normalizationConstants(
        typeof normalization.mean === 'number'
          ? normalization as { mean: number; std: number }
          : { ...normalization as Normalization, plane: height * width },
      ),
      SALT: AUGMENT_SALT,
      WG,
    },
  });
  return [{
    kernel,
    bindGroup: kernel.bind(gpu, [rng, pixels, output]),
    workgroups: grid('augmentAffine', ceilDiv(count, WG)),
  }];
}
