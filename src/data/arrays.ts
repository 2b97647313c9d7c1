// Datasets from pixels already in memory (decoded by the caller, generated, read from another format).
import type { Normalization } from '../kernels/normalize.ts';
import { channelStatistics } from './image-folder.ts';
import type { MnistSplit } from './mnist.ts';

/** Options of {@link datasetFromArrays}. */
export interface DatasetFromArraysOptions {
  /** Per-image shape [channels, height, width]; channels 1 (gray) or 3 (RGB). */
  shape: readonly [number, number, number];
  /** Class names, index = label; their count bounds the labels (default: labels up to 255, unnamed). */
  classNames?: readonly string[];
  /** The network's input normalization (default: the per-channel mean and std of these images). */
  normalization?: Normalization;
}

/**
 * A dataset from arrays: `images` is count x channels x height x width bytes, planar (all of channel 0,
 * then channel 1, ...; the layout PyTorch's tensors have), image after image, or one such array per
 * image; `labels` one class index per image. The result trains, evaluates and predicts like a loaded
 * dataset; its `normalization` (the images' own per-channel mean and std unless given) is what a
 * model trained on it normalizes its input with.
 *
 * @throws RangeError when the sizes, labels or shape do not fit together.
 */
export function datasetFromArrays(
  images: Uint8Array | readonly Uint8Array[],
  labels: ArrayLike<number>,
  options: DatasetFromArraysOptions,
): MnistSplit {
  const [channels, height, width] = options.shape;
  if (![channels, height, width].every((n) => Number.isInteger(n) && n >= 1) || (channels !== 1 && channels !== 3)) {
    throw new RangeError(
      `datasetFromArrays: shape must be [1 or 3, height, width] in positive integers, got [${options.shape}]`,
    );
  }
  const size = channels * height * width;
  let flat: Uint8Array;
  if (images instanceof Uint8Array) {
    flat = images;
  } else {
    flat = new Uint8Array(images.length * size);
    images.forEach((image, i) => {
      if (image.length !== size) {
        throw new RangeError(
          `datasetFromArrays: image ${i} has ${image.length} bytes, not ${size} (${options.shape.join('x')})`,
        );
      }
      flat.set(image, i * size);
    });
  }
  if (flat.length % size !== 0) {
    throw new RangeError(
      `datasetFromArrays: ${flat.length} bytes is not a whole number of ${options.shape.join('x')} images`,
    );
  }
  const count = flat.length / size;
  if (labels.length !== count) throw new RangeError(`datasetFromArrays: ${labels.length} labels for ${count} images`);
  if (count === 0) throw new RangeError('datasetFromArrays: no images');
  const classCount = options.classNames?.length ?? 256;
  const labelBytes = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const label = labels[i];
    if (!Number.isInteger(label) || label < 0 || label >= classCount) {
      throw new RangeError(`datasetFromArrays: label ${i} is ${label}, outside 0-${classCount - 1}`);
    }
    labelBytes[i] = label;
  }
  return {
    images: flat,
    labels: labelBytes,
    count,
    rows: height,
    cols: width,
    channels,
    classes: options.classNames,
    normalization: options.normalization ?? channelStatistics(flat, channels, height * width),
  };
}
