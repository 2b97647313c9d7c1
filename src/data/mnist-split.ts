// One split of an IDX dataset (MNIST and its drop-ins) from its two parsed files: the structure checked
// in full (magic numbers, 28x28 images, image and label counts agreeing, labels 0-9). No file system
// here: loadMnist (src/data/mnist.ts) and the browser page, which fetches the files, share it.
import type { DatasetPreset } from './datasets.ts';
import { DataError, type IdxArray } from './idx-format.ts';
import type { MnistSplit } from './mnist.ts';

export const IMAGES_MAGIC = 2051;
export const LABELS_MAGIC = 2049;
export const MNIST_ROWS = 28;
export const MNIST_COLS = 28;
export const MNIST_CLASSES = 10;

/** The first `count` images of a split, as a split of its own (views, no copy). */
export function firstImages(split: MnistSplit, count: number): MnistSplit {
  const size = (split.channels ?? 1) * split.rows * split.cols;
  return { ...split, count, images: split.images.subarray(0, count * size), labels: split.labels.subarray(0, count) };
}

/** A parsed file and where it came from (a path, or a URL in the browser), for messages. */
export interface ParsedIdxFile {
  path: string;
  array: IdxArray;
}

/** The split the two files make, or a DataError naming the file that does not fit. Checksums are the caller's. */
export function mnistSplitFromIdx(images: ParsedIdxFile, labels: ParsedIdxFile, preset: DatasetPreset): MnistSplit {
  if (images.array.magic !== IMAGES_MAGIC) {
    throw new DataError(
      images.path,
      `holds ${describeMagic(images.array)}, not images (magic ${IMAGES_MAGIC}, 3 dimensions)`,
      'Check that the image and label files are not swapped, or replace the file',
    );
  }
  if (labels.array.magic !== LABELS_MAGIC) {
    throw new DataError(
      labels.path,
      `holds ${describeMagic(labels.array)}, not labels (magic ${LABELS_MAGIC}, 1 dimension)`,
      'Check that the image and label files are not swapped, or replace the file',
    );
  }
  const [count, rows, cols] = images.array.dims;
  if (rows !== MNIST_ROWS || cols !== MNIST_COLS) {
    throw new DataError(
      images.path,
      `holds ${rows}x${cols} images; the network takes ${MNIST_ROWS}x${MNIST_COLS}`,
      'Use a dataset of 28x28 images',
    );
  }
  const labelCount = labels.array.dims[0];
  if (labelCount !== count) {
    throw new DataError(
      labels.path,
      `has ${labelCount} labels but ${images.path} has ${count} images`,
      'The two files belong to different datasets or one is damaged; replace them with a matching pair',
    );
  }
  const labelData = labels.array.data;
  for (let i = 0; i < labelData.length; i++) {
    if (labelData[i] >= MNIST_CLASSES) {
      throw new DataError(
        labels.path,
        `label ${i} is ${labelData[i]}, outside 0-${MNIST_CLASSES - 1}`,
        'This is not a 10-class dataset, or the file is damaged',
      );
    }
  }
  return {
    images: images.array.data,
    labels: labelData,
    count,
    rows,
    cols,
    imagesPath: images.path,
    dataset: preset.name,
    classes: preset.classes,
  };
}

function describeMagic({ magic, dims }: IdxArray): string {
  return `an IDX array with magic ${magic} and ${dims.length} dimension${dims.length === 1 ? '' : 's'} (${
    dims.join('x')
  })`;
}
