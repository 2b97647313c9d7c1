// Finds, downloads if missing, verifies and loads one MNIST split.
//
// Where the files are looked for (resolveDataDir): the explicit `dir` option (CLI --data DIR), else
// the environment variable MNIST_DIR, else `data/mnist/` under the project root. The project root is
// found from this module's own location (the nearest folder above it with a package.json), not from
// the working directory, so every command shares one download whatever folder it is started from.
//
// In that folder each file may be gzipped (`train-images-idx3-ubyte.gz`) or uncompressed
// (`train-images-idx3-ubyte`); the uncompressed one wins when both are there. Missing files are
// downloaded (gzipped) from MNIST_MIRRORS unless `download: false`.
//
// Verification: the SHA-256 of the uncompressed content must match the published MNIST files.
// `verify: false` (CLI --no-verify) skips that, for other datasets in the same IDX format (such as
// Fashion-MNIST); the structure is still checked in full: magic numbers, 28x28 images, payload
// length against the declared count, image and label counts agreeing, labels 0-9.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { ensureDir } from '../io/files.ts';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { DataError, decompressIdx, parseIdx, readDataFile, type IdxArray } from './idx.ts';
import { downloadFile, type DownloadOptions } from './download.ts';

export interface MnistSplit {
  /** count*rows*cols unsigned bytes, row-major, image after image. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  rows: number;
  cols: number;
  /** The images file it was read from (for messages). */
  imagesPath?: string;
}

export type MnistSplitName = 'train' | 'test';

export interface LoadMnistOptions {
  /** Folder holding the files; see resolveDataDir for the default. */
  dir?: string;
  split: MnistSplitName;
  /** Check the SHA-256 of each file against the MNIST originals (default true). */
  verify?: boolean;
  /** Download missing files (default true). */
  download?: boolean;
  /** Human-readable progress lines (downloads only; loading files is silent). */
  onProgress?: (message: string) => void;
  /** Mirrors, retries and timeouts of the download (tests point these at a local server). */
  downloadOptions?: Omit<DownloadOptions, 'onProgress'>;
}

export interface MnistFile {
  /** File name without `.gz`. */
  name: string;
  /** Size of the uncompressed file. */
  bytes: number;
  /** SHA-256 of the uncompressed file, lower-case hex. */
  sha256: string;
}

export const IMAGES_MAGIC = 2051;
export const LABELS_MAGIC = 2049;
export const MNIST_ROWS = 28;
export const MNIST_COLS = 28;
export const MNIST_CLASSES = 10;

/** The published MNIST files (checksums of the uncompressed content). */
export const MNIST_FILES: Readonly<Record<MnistSplitName, { images: MnistFile; labels: MnistFile }>> = {
  train: {
    images: {
      name: 'train-images-idx3-ubyte',
      bytes: 47040016,
      sha256: 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
    },
    labels: {
      name: 'train-labels-idx1-ubyte',
      bytes: 60008,
      sha256: '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
    },
  },
  test: {
    images: {
      name: 't10k-images-idx3-ubyte',
      bytes: 7840016,
      sha256: '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
    },
    labels: {
      name: 't10k-labels-idx1-ubyte',
      bytes: 10008,
      sha256: 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
    },
  },
};

const ALL_FILE_NAMES = [MNIST_FILES.train.images, MNIST_FILES.train.labels, MNIST_FILES.test.images, MNIST_FILES.test.labels]
  .map((f) => `${f.name}.gz`);

let cachedRoot: string | undefined;

/** The nearest folder above this module with a package.json (src/data, dist/data, build/src/data). */
/** The first `count` images of a split, as a split of its own (views, no copy). */
export function firstImages(split: MnistSplit, count: number): MnistSplit {
  const size = split.rows * split.cols;
  return { ...split, count, images: split.images.subarray(0, count * size), labels: split.labels.subarray(0, count) };
}

export function projectRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json'))) return (cachedRoot = dir);
    dir = dirname(dir);
  }
  return (cachedRoot = process.cwd());
}

/** `explicit` (CLI --data), else $MNIST_DIR, else data/mnist under the project root; always absolute. */
export function resolveDataDir(explicit?: string): string {
  if (explicit) return resolve(explicit);
  const fromEnv = process.env.MNIST_DIR;
  if (fromEnv) return resolve(fromEnv);
  return join(projectRoot(), 'data', 'mnist');
}

/** What to do when files are missing: the exact names, the folder, and how to point elsewhere. */
export function whereToPutFiles(dir: string): string {
  return `Put the four MNIST files ${ALL_FILE_NAMES.join(', ')} (gzipped, or uncompressed without .gz) ` +
    `into ${dir}, or point MNIST_DIR or --data at a folder that has them`;
}

export async function loadMnist(options: LoadMnistOptions): Promise<MnistSplit> {
  if (options.split !== 'train' && options.split !== 'test') {
    throw new Error(`loadMnist: split must be 'train' or 'test', got ${JSON.stringify(options.split)}`);
  }
  const files = MNIST_FILES[options.split];
  const dir = resolveDataDir(options.dir);
  const verify = options.verify ?? true;
  const images = await loadFile(dir, files.images, options);
  const labels = await loadFile(dir, files.labels, options);

  if (images.array.magic !== IMAGES_MAGIC) {
    throw new DataError(images.path, `holds ${describeMagic(images.array)}, not images (magic ${IMAGES_MAGIC}, 3 dimensions)`,
      'Check that the image and label files are not swapped, or replace the file');
  }
  if (labels.array.magic !== LABELS_MAGIC) {
    throw new DataError(labels.path, `holds ${describeMagic(labels.array)}, not labels (magic ${LABELS_MAGIC}, 1 dimension)`,
      'Check that the image and label files are not swapped, or replace the file');
  }
  const [count, rows, cols] = images.array.dims;
  if (rows !== MNIST_ROWS || cols !== MNIST_COLS) {
    throw new DataError(images.path, `holds ${rows}x${cols} images; the network takes ${MNIST_ROWS}x${MNIST_COLS}`,
      'Use a dataset of 28x28 images');
  }
  const labelCount = labels.array.dims[0];
  if (labelCount !== count) {
    throw new DataError(labels.path, `has ${labelCount} labels but ${images.path} has ${count} images`,
      'The two files belong to different datasets or one is damaged; replace them with a matching pair');
  }
  const labelData = labels.array.data;
  for (let i = 0; i < labelData.length; i++) {
    if (labelData[i] >= MNIST_CLASSES) {
      throw new DataError(labels.path, `label ${i} is ${labelData[i]}, outside 0-${MNIST_CLASSES - 1}`,
        'This is not a 10-class digit dataset, or the file is damaged');
    }
  }
  // Structure first, checksums last: "truncated" or "9999 labels for 10000 images" says more than a hash.
  if (verify) {
    verifyChecksum(images.contents, files.images, images.path);
    verifyChecksum(labels.contents, files.labels, labels.path);
  }
  return { images: images.array.data, labels: labelData, count, rows, cols, imagesPath: images.path };
}

function describeMagic({ magic, dims }: IdxArray): string {
  return `an IDX array with magic ${magic} and ${dims.length} dimension${dims.length === 1 ? '' : 's'} (${dims.join('x')})`;
}

interface LoadedFile {
  path: string;
  /** The uncompressed file, header included: what the checksum covers. */
  contents: Uint8Array;
  array: IdxArray;
}

/** Finds the file (uncompressed first, then .gz), downloading the .gz when neither exists. */
async function loadFile(dir: string, file: MnistFile, options: LoadMnistOptions): Promise<LoadedFile> {
  const rawPath = join(dir, file.name);
  const gzPath = `${rawPath}.gz`;
  const path = existsSync(rawPath) ? rawPath : gzPath;
  if (path === gzPath && !existsSync(gzPath)) {
    if (options.download === false) {
      throw new DataError(gzPath, `is missing (and ${file.name} too); downloading is turned off`, whereToPutFiles(dir));
    }
    await download(dir, file, gzPath, options);
  }
  const contents = decompressIdx(readDataFile(path), path);
  return { path, contents, array: parseIdx(contents, path) };
}

function verifyChecksum(contents: Uint8Array, file: MnistFile, path: string): void {
  const actual = createHash('sha256').update(contents).digest('hex');
  if (actual !== file.sha256) {
    throw new DataError(path,
      `does not match the original ${file.name}: its uncompressed content has SHA-256 ${actual}, expected ${file.sha256}`,
      'Delete it and run again to re-download it; if it is a different dataset in IDX format on purpose, ' +
      'pass --no-verify (verify: false)');
  }
}

async function download(dir: string, file: MnistFile, gzPath: string, options: LoadMnistOptions): Promise<void> {
  try {
    ensureDir(dir);
  } catch (err) {
    throw new DataError(dir, `cannot be created to download ${file.name}.gz into (${(err as Error).message})`,
      whereToPutFiles(dir));
  }
  options.onProgress?.(`${file.name}.gz not found in ${dir}; downloading it`);
  // Downloads come from MNIST mirrors, so they are always checked against MNIST, whatever `verify` says.
  const check = (bytes: Uint8Array, source: string) => {
    const contents = decompressIdx(bytes, source);
    parseIdx(contents, source);
    verifyChecksum(contents, file, source);
  };
  await downloadFile(`${file.name}.gz`, gzPath, check, whereToPutFiles(dir),
    { ...options.downloadOptions, onProgress: options.onProgress });
}
