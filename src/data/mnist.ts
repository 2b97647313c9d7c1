// Finds, downloads if missing, verifies and loads one split of a dataset preset (src/data/datasets.ts:
// MNIST by default, Fashion-MNIST, KMNIST).
//
// Where the files are looked for (resolveDataDir): the explicit `dir` option (CLI --data DIR), else the
// preset's environment variable ($MNIST_DIR, $FASHION_MNIST_DIR, $KMNIST_DIR), else `data/<dataset>/` under
// the project root. The project root is found from this module's own location (the nearest folder above it
// with a package.json), not from the working directory, so every command shares one download whatever
// folder it is started from; an installed package (under node_modules) uses the working directory instead.
//
// In that folder each file may be gzipped (`train-images-idx3-ubyte.gz`) or uncompressed
// (`train-images-idx3-ubyte`); the uncompressed one wins when both are there. Missing files are
// downloaded (gzipped) from the preset's mirrors, and only then: never with `download: false` or
// `verify: false`, and never into a folder holding files that are not that preset's.
//
// Verification: the SHA-256 of the uncompressed content must match the preset's, or, where only the
// publisher's MD5 of the .gz is known (KMNIST), the .gz's MD5. `verify: false` (CLI --no-verify) skips
// that, for other datasets in the same IDX format; the structure is still checked in full: magic
// numbers, 28x28 images, payload length against the declared count, image and label counts agreeing,
// labels 0-9.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { ensureDir } from '../io/files.ts';
import { dirname, join, resolve, sep } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { DataError, decompressIdx, type IdxArray, parseIdx, readDataFile } from './idx.ts';
import { mnistSplitFromIdx } from './mnist-split.ts';
import { downloadFile, type DownloadOptions } from './download.ts';
import type { Normalization } from '../kernels/normalize.ts';
import { type DatasetFile, datasetFiles, type DatasetPreset, getDataset, MNIST } from './datasets.ts';

export interface MnistSplit {
  /** count*channels*rows*cols unsigned bytes, [channels, rows, cols] row-major, image after image. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  rows: number;
  cols: number;
  /** The images file it was read from (for messages). */
  imagesPath?: string;
  /** The preset it was loaded as (its name), and its class names. */
  dataset?: string;
  classes?: readonly string[];
  /** Planes per image: 1 (gray, the default) or 3 (RGB). */
  channels?: number;
  /** The per-channel mean and std the network normalizes this data with (default: MNIST's constants). */
  normalization?: Normalization;
}

export type MnistSplitName = 'train' | 'test';

export interface LoadMnistOptions {
  /** Which preset (name or description); default MNIST. */
  dataset?: string | DatasetPreset;
  /** Folder holding the files; see resolveDataDir for the default. */
  dir?: string;
  split: MnistSplitName;
  /** Check each file's checksum against the preset's (default true). */
  verify?: boolean;
  /** Download missing files (default true; never when `verify` is false). */
  download?: boolean;
  /** Human-readable progress lines (downloads only; loading files is silent). */
  onProgress?: (message: string) => void;
  /** Mirrors, retries and timeouts of the download (tests point these at a local server). */
  downloadOptions?: Omit<DownloadOptions, 'onProgress'>;
}

export interface MnistFile extends DatasetFile {
  sha256: string;
}

export { firstImages, IMAGES_MAGIC, LABELS_MAGIC, MNIST_CLASSES, MNIST_COLS, MNIST_ROWS } from './mnist-split.ts';

/** The published MNIST files (checksums of the uncompressed content). */
export const MNIST_FILES = MNIST.files as Readonly<Record<MnistSplitName, { images: MnistFile; labels: MnistFile }>>;

let cachedRoot: string | undefined;

/** The nearest folder above this module with a package.json (src/data, dist/data, build/src/data). */
export function projectRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json'))) return (cachedRoot = dir);
    dir = dirname(dir);
  }
  return (cachedRoot = process.cwd());
}

/** Where data/ goes: the project root of a clone; the working directory for an installed package. */
export function dataRoot(): string {
  const root = projectRoot();
  return root.split(sep).includes('node_modules') ? process.cwd() : root;
}

function presetOf(dataset: string | DatasetPreset | undefined): DatasetPreset {
  return dataset === undefined ? MNIST : typeof dataset === 'string' ? getDataset(dataset) : dataset;
}

/** `explicit` (CLI --data), else the preset's variable ($MNIST_DIR), else data/<dataset>; always absolute. */
export function resolveDataDir(explicit?: string, dataset?: string | DatasetPreset): string {
  if (explicit) return resolve(explicit);
  const preset = presetOf(dataset);
  const fromEnv = process.env[preset.envVar];
  if (fromEnv) return resolve(fromEnv);
  return join(dataRoot(), 'data', preset.name);
}

/** What to do when files are missing: the exact names, the folder, and how to point elsewhere. */
export function whereToPutFiles(dir: string, dataset?: string | DatasetPreset): string {
  const preset = presetOf(dataset);
  const names = datasetFiles(preset).map((f) => `${f.name}.gz`);
  return `Put the four ${preset.title} files ${names.join(', ')} (gzipped, or uncompressed without .gz) ` +
    `into ${dir}, or point ${preset.envVar} or --data at a folder that has them`;
}

export async function loadMnist(options: LoadMnistOptions): Promise<MnistSplit> {
  if (options.split !== 'train' && options.split !== 'test') {
    throw new Error(`loadMnist: split must be 'train' or 'test', got ${JSON.stringify(options.split)}`);
  }
  const preset = presetOf(options.dataset);
  const files = preset.files[options.split];
  const dir = resolveDataDir(options.dir, preset);
  const verify = options.verify ?? true;
  // Both files are looked for before either is read: a missing one is named at once.
  for (const file of [files.images, files.labels]) await ensurePresent(dir, file, preset, options);
  const images = loadFile(dir, files.images);
  const labels = loadFile(dir, files.labels);

  const split = mnistSplitFromIdx(images, labels, preset);
  // Structure first, checksums last: "truncated" or "9999 labels for 10000 images" says more than a hash.
  if (verify) {
    verifyChecksum(images, files.images, preset);
    verifyChecksum(labels, files.labels, preset);
  }
  return split;
}

interface LoadedFile {
  path: string;
  /** The file as stored (gzipped or not): what a published MD5 of the .gz covers. */
  stored: Uint8Array;
  /** The uncompressed file, header included: what the SHA-256 covers. */
  contents: Uint8Array;
  array: IdxArray;
}

/** The path `file` is read from: the uncompressed file if there, else the .gz (which may be missing). */
function pathOf(dir: string, file: DatasetFile): string {
  const rawPath = join(dir, file.name);
  return existsSync(rawPath) ? rawPath : `${rawPath}.gz`;
}

/** Downloads `file` when neither form of it is in `dir` and downloading is allowed; else names it. */
async function ensurePresent(
  dir: string,
  file: DatasetFile,
  preset: DatasetPreset,
  options: LoadMnistOptions,
): Promise<void> {
  const path = pathOf(dir, file);
  if (existsSync(path)) return;
  if (options.verify === false) {
    throw new DataError(
      path,
      `is missing (and ${file.name} too); with --no-verify (verify: false) nothing is downloaded, ` +
        'since the folder may hold another dataset',
      whereToPutFiles(dir, preset),
    );
  }
  if (options.download === false) {
    throw new DataError(
      path,
      `is missing (and ${file.name} too); downloading is turned off`,
      whereToPutFiles(dir, preset),
    );
  }
  refuseForeignFolder(dir, preset);
  await download(dir, file, path, preset, options);
}

/**
 * A download goes only into a folder whose files, if any, are this preset's: Fashion-MNIST's file
 * must never complete a folder of MNIST files (or the other way round), mixing two datasets.
 */
function refuseForeignFolder(dir: string, preset: DatasetPreset): void {
  for (const file of datasetFiles(preset)) {
    const path = pathOf(dir, file);
    if (!existsSync(path)) continue;
    try {
      verifyChecksum(loadFile(dir, file), file, preset);
    } catch (err) {
      const why = err instanceof DataError ? err.problem : (err as Error).message;
      throw new DataError(
        path,
        `is not ${preset.title}'s ${file.name} (${why}), so nothing is downloaded into ${dir}, ` +
          `which would mix two datasets`,
        `Point --data at a folder of ${preset.name} files only, or at an empty one`,
      );
    }
  }
}

function loadFile(dir: string, file: DatasetFile): LoadedFile {
  const path = pathOf(dir, file);
  const stored = readDataFile(path);
  const contents = decompressIdx(stored, path);
  return { path, stored, contents, array: parseIdx(contents, path) };
}

const hex = (algorithm: string, bytes: Uint8Array) => createHash(algorithm).update(bytes).digest('hex');

function verifyChecksum(
  { path, stored, contents }: Omit<LoadedFile, 'array'>,
  file: DatasetFile,
  preset: DatasetPreset,
): void {
  const advice = 'Delete it and run again to re-download it; if it is a different dataset in IDX format on purpose, ' +
    `pass --no-verify (verify: false)${preset === MNIST ? '' : ` or the right --dataset`}`;
  if (file.sha256) {
    const actual = hex('sha256', contents);
    if (actual !== file.sha256) {
      throw new DataError(
        path,
        `does not match ${preset.title}'s ${file.name}: its uncompressed content has SHA-256 ${actual}, expected ${file.sha256}`,
        advice,
      );
    }
    return;
  }
  if (file.gzMd5 && path.endsWith('.gz')) {
    const actual = hex('md5', stored);
    if (actual !== file.gzMd5) {
      throw new DataError(
        path,
        `does not match ${preset.title}'s ${file.name}.gz: MD5 ${actual}, expected ${file.gzMd5} (published)`,
        advice,
      );
    }
    return;
  }
  throw new DataError(
    path,
    `cannot be verified: ${preset.title}'s publisher gives checksums of the .gz files only`,
    `Keep ${file.name}.gz instead (it is verified), or pass --no-verify`,
  );
}

async function download(
  dir: string,
  file: DatasetFile,
  gzPath: string,
  preset: DatasetPreset,
  options: LoadMnistOptions,
): Promise<void> {
  try {
    ensureDir(dir);
  } catch (err) {
    throw new DataError(
      dir,
      `cannot be created to download ${file.name}.gz into (${(err as Error).message})`,
      whereToPutFiles(dir, preset),
    );
  }
  options.onProgress?.(`${file.name}.gz (${preset.name}) not found in ${dir}; downloading it`);
  // Downloads come from the preset's mirrors, so they are always checked against it.
  const check = (bytes: Uint8Array, source: string) => {
    const contents = decompressIdx(bytes, `${source}`.endsWith('.gz') ? source : `${source}.gz`);
    parseIdx(contents, source);
    verifyChecksum({ path: source.endsWith('.gz') ? source : `${source}.gz`, stored: bytes, contents }, file, preset);
  };
  await downloadFile(`${file.name}.gz`, gzPath, check, whereToPutFiles(dir, preset), {
    mirrors: preset.mirrors,
    ...options.downloadOptions,
    onProgress: options.onProgress,
  });
}
