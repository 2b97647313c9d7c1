// Labelled pictures in a folder per class (the layout torchvision's ImageFolder and Keras'
// image_dataset_from_directory take): DIR/<class>/<picture>.png|.jpg, class names sorted, labels their
// positions. DIR holds either `train/` and `test/`, each such a folder (the two splits), or the class
// folders themselves, split by a seeded shuffle into train and test (`testFraction`).
//
// Every picture is decoded (PNG by src/io/png.ts, JPEG by src/io/jpeg.ts), converted to the model's
// channels and resized to its height and width (src/io/resize.ts). The result of a folder is cached
// as one binary file keyed by the folder's listing (relative names, sizes, modification times) and
// the settings: a second run reads one file instead of thousands, and a changed folder is read anew.
// The cache is written atomically and only once every picture decoded, so it is never half written.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, realpathSync, type Stats, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import process from 'node:process';
import { describeFsError, errorCode, writeFileAtomicSync } from '../io/files.ts';
import { decodeJpeg, isJpeg, jpegFrame } from '../io/jpeg.ts';
import { decodePngColor, PNG_SIGNATURE } from '../io/png.ts';
import { convertChannels, type RasterImage, resizeToPlanar } from '../io/resize.ts';
import type { Normalization } from '../kernels/normalize.ts';
import { Rng } from '../util/random.ts';
import { DataError } from './idx.ts';
import type { MnistSplit } from './mnist.ts';

/** File name endings read as pictures (case-insensitive); other files are ignored with a notice. */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'] as const;
/** Above this many files a folder gets a notice that the first read takes a while. */
export const LARGE_FOLDER_FILES = 100_000;
/** Labels are stored in bytes. */
export const MAX_CLASSES = 256;
const CACHE_MAGIC = 'WGDFOLD1';
/** Changes whenever decoding or resizing would give other bytes: old caches are then read anew. */
const CACHE_VERSION = 1;

export interface ImageFolderOptions {
  /** The model's input height and width: [height, width], or one number for square pictures. */
  size: number | readonly [number, number];
  /** The model's input channels: 1 (gray) or 3 (RGB). */
  channels: 1 | 3;
  /** Share of a single folder held out as the test split (default 0.1); unused with train/ and test/. */
  testFraction?: number;
  /** Seeds the train/test split of a single folder (default 1). */
  seed?: number;
  /** Where the decoded folders are cached (default $XDG_CACHE_HOME/webgpu-digits/image-folders, else ~/.cache/...); false: no cache. */
  cacheDir?: string | false;
  /** Skip files that cannot be decoded (counted in `skipped`) instead of failing on the first. */
  skipBadFiles?: boolean;
  /** Notices a user should see: ignored files, mixed channel counts, large folders, a cache that cannot be written. */
  onNotice?: (message: string) => void;
  /** Decoding progress, every few hundred files (only when a folder is decoded, not read from the cache). */
  onProgress?: (done: number, total: number) => void;
  /** From how many files a folder gets the notice that its first read takes a while (default LARGE_FOLDER_FILES). */
  largeFolderFiles?: number;
}

/** A file left out with skipBadFiles, and why. */
export interface SkippedFile {
  path: string;
  problem: string;
}

/** One folder of class folders, as found and read. */
export interface FolderPart {
  /** The folder (DIR, DIR/train or DIR/test). */
  dir: string;
  /** Pictures per class, in class order (skipped files not counted). */
  counts: number[];
  /** Source pictures with one channel (gray) and with color. */
  gray: number;
  color: number;
  /** Smallest and largest source sizes seen, width x height. */
  minSize: [number, number];
  maxSize: [number, number];
  skipped: SkippedFile[];
  /** The cache file, and whether it was fresh (read instead of decoding). */
  cache: { path: string; fresh: boolean } | null;
}

/** A folder of labelled pictures, decoded: the two splits and what was found. */
export interface ImageFolderDataset {
  dir: string;
  /** 'train-test': DIR/train and DIR/test; 'split': one folder split by testFraction and seed. */
  layout: 'train-test' | 'split';
  classes: string[];
  train: MnistSplit;
  test: MnistSplit;
  /** Per-channel mean and standard deviation of the training split's pixels (as x / 255). */
  normalization: Normalization;
  parts: FolderPart[];
  /** 'split' layout: the fraction and seed it was split with. */
  testFraction?: number;
  seed?: number;
}

interface Listing {
  root: string;
  classes: string[];
  /** Per picture: absolute path, class index, size and mtime (the cache key's ingredients). */
  files: { path: string; label: number; size: number; mtimeMs: number }[];
  ignored: string[];
}

/** The default cache folder: $XDG_CACHE_HOME/webgpu-digits/image-folders, else ~/.cache/webgpu-digits/image-folders. */
export function defaultImageCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'webgpu-digits', 'image-folders');
}

/** [height, width] from ImageFolderOptions.size, checked. */
function sizeOf(size: ImageFolderOptions['size']): [number, number] {
  const [height, width] = typeof size === 'number' ? [size, size] : size;
  for (const n of [height, width]) {
    if (!Number.isInteger(n) || n < 1 || n > 4096) {
      throw new RangeError(`loadImageFolder: size must be integers in 1..4096, got ${JSON.stringify(size)}`);
    }
  }
  return [height, width];
}

function statPath(path: string, what: string): Stats {
  try {
    return statSync(path);
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ELOOP') throw new DataError(path, `${what} is a symbolic link loop`, 'Remove or fix the link');
    if (code === 'ENOENT') {
      throw new DataError(
        path,
        `${what} does not exist${isDanglingLink(path) ? ' (a symbolic link to nothing)' : ''}`,
        'Check the path, or remove the broken link',
      );
    }
    throw new DataError(path, `${what} cannot be read: ${describeFsError(err)}`, 'Check its permissions');
  }
}

function isDanglingLink(path: string): boolean {
  try {
    return readdirSync(resolve(path, '..'), { withFileTypes: true }).some((e) =>
      e.name === path.split(/[\\/]/).pop() && e.isSymbolicLink()
    );
  } catch {
    return false;
  }
}

const isPictureName = (name: string) => IMAGE_EXTENSIONS.some((ext) => name.toLowerCase().endsWith(ext));

/** Sorted by code unit, as Python's sorted() orders ImageFolder's classes. */
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The pictures under one folder of class folders; follows symbolic links, refusing loops. */
export function listClassFolders(
  root: string,
  options: Pick<ImageFolderOptions, 'skipBadFiles'> & { skipped?: SkippedFile[] } = {},
): Listing {
  const rootStats = statPath(root, 'the image folder');
  if (!rootStats.isDirectory()) {
    throw new DataError(
      root,
      'is not a folder',
      'Pass --data a folder holding one subfolder of pictures per class (or train/ and test/ folders of those)',
    );
  }
  const entries = readdirSync(root, { withFileTypes: true }).sort((a, b) => byName(a.name, b.name));
  const classes: string[] = [];
  const ignored: string[] = [];
  for (const entry of entries) {
    const path = join(root, entry.name);
    const isDir = entry.isDirectory() || (entry.isSymbolicLink() && statPath(path, 'class folder').isDirectory());
    if (isDir && !entry.name.startsWith('.')) classes.push(entry.name);
    else ignored.push(path);
  }
  if (classes.length === 0) {
    throw new DataError(
      root,
      'holds no class folders',
      'Put the pictures of each class in a subfolder named after the class (DIR/cat/1.png, DIR/dog/2.jpg)',
    );
  }
  if (classes.length === 1) {
    throw new DataError(
      root,
      `holds one class folder only (${classes[0]}): a classifier needs at least two classes`,
      'Add a folder of pictures for every other class',
    );
  }
  if (classes.length > MAX_CLASSES) {
    throw new DataError(
      root,
      `holds ${classes.length} class folders, more than the ${MAX_CLASSES} supported`,
      'Merge classes',
    );
  }
  const files: Listing['files'] = [];
  classes.forEach((name, label) => {
    const classDir = join(root, name);
    const before = files.length;
    walk(classDir, label, [realpathSync(classDir)]);
    if (files.length === before) {
      throw new DataError(
        classDir,
        'holds no PNG or JPEG pictures (files ending .png, .jpg or .jpeg)',
        'Add pictures of this class, or remove the folder',
      );
    }
  });
  return { root, classes, files, ignored };

  // Depth first, names sorted at every level (as ImageFolder's os.walk), `ancestors` the real paths above.
  function walk(dir: string, label: number, ancestors: string[]): void {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => byName(a.name, b.name))) {
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      let stats: Stats;
      try {
        stats = statPath(path, entry.isSymbolicLink() ? 'symbolic link' : 'file');
      } catch (err) {
        if (!options.skipBadFiles || !(err instanceof DataError)) throw err;
        options.skipped?.push({ path, problem: err.problem });
        continue;
      }
      if (stats.isDirectory()) {
        const real = realpathSync(path);
        if (ancestors.includes(real)) {
          throw new DataError(
            path,
            `is a symbolic link back to ${real}, a folder it is inside of: following it would never end`,
            'Remove the link',
          );
        }
        walk(path, label, [...ancestors, real]);
      } else if (stats.isFile() && isPictureName(entry.name)) {
        // Whole milliseconds: Node and Deno agree on those (Node rounds its Date, Deno truncates).
        files.push({ path, label, size: stats.size, mtimeMs: Math.floor(stats.mtimeMs) });
      } else {
        ignored.push(path);
      }
    }
  }
}

/** The cache key of a listing read with these settings. */
function listingKey(listing: Listing, height: number, width: number, channels: number): string {
  const hash = createHash('sha256').update(
    JSON.stringify({ version: CACHE_VERSION, height, width, channels, classes: listing.classes }),
  );
  for (const f of listing.files) {
    hash.update(`\n${relative(listing.root, f.path)}\t${f.label}\t${f.size}\t${f.mtimeMs}`);
  }
  return hash.digest('hex');
}

/** Where the cache of `root` at these settings lives (one file per folder and settings; a changed folder overwrites it). */
export function imageCachePath(
  cacheDir: string,
  root: string,
  height: number,
  width: number,
  channels: number,
): string {
  const id = createHash('sha256').update(`${resolve(root)}\n${height}x${width}x${channels}`).digest('hex').slice(0, 24);
  return join(cacheDir, `${id}.bin`);
}

interface DecodedPart {
  images: Uint8Array;
  labels: Uint8Array;
  header: CacheHeader;
}

/** The JSON header of a cache file (and of an image set for bench/pytorch_digit.py --images). */
export interface CacheHeader {
  version: number;
  key: string;
  dir: string;
  height: number;
  width: number;
  channels: number;
  count: number;
  classes: string[];
  counts: number[];
  gray: number;
  color: number;
  minSize: [number, number];
  maxSize: [number, number];
  skipped: SkippedFile[];
}

/** The cache file as bytes: magic, header length (u32 LE), JSON header, labels (u8), images (u8, [count, C, H, W]). */
export function encodeImageCache(header: CacheHeader, labels: Uint8Array, images: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(12 + json.length + labels.length + images.length);
  out.set(new TextEncoder().encode(CACHE_MAGIC), 0);
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, 12);
  out.set(labels, 12 + json.length);
  out.set(images, 12 + json.length + labels.length);
  return out;
}

/** A cache file's header and arrays, or undefined when it is missing, damaged or of another version. */
export function readImageCache(path: string): DecodedPart | undefined {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch {
    return undefined;
  }
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== CACHE_MAGIC) return undefined;
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
  let header: CacheHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + length)));
  } catch {
    return undefined;
  }
  if (header.version !== CACHE_VERSION) return undefined;
  const imageBytes = header.count * header.channels * header.height * header.width;
  if (bytes.length !== 12 + length + header.count + imageBytes) return undefined;
  const labels = bytes.subarray(12 + length, 12 + length + header.count);
  return { header, labels, images: bytes.subarray(12 + length + header.count) };
}

/** Reads `bytes` (from `path`) as a PNG or JPEG picture, by its first bytes, not its name. */
export function decodePicture(bytes: Uint8Array, path: string): RasterImage {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return decodePngColor(bytes, path);
  if (isJpeg(bytes)) return decodeJpeg(bytes, path);
  const start = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new DataError(
    path,
    `is neither a PNG nor a JPEG file (it starts with ${bytes.length ? start : 'nothing: it is empty'})`,
    'Convert it to PNG or JPEG, remove it, or pass --skip-bad-files',
  );
}

/** Decodes one folder of class folders (or reads its fresh cache). */
function readPart(
  root: string,
  height: number,
  width: number,
  channels: 1 | 3,
  options: ImageFolderOptions,
): { part: FolderPart; decoded: DecodedPart } {
  const skippedListing: SkippedFile[] = [];
  const listing = listClassFolders(root, { skipBadFiles: options.skipBadFiles, skipped: skippedListing });
  const notice = options.onNotice ?? (() => {});
  const total = listing.files.length + listing.ignored.length;
  const key = listingKey(listing, height, width, channels);
  const cacheDir = options.cacheDir === undefined ? defaultImageCacheDir() : options.cacheDir;
  const cachePath = cacheDir === false ? null : imageCachePath(cacheDir, root, height, width, channels);
  if (listing.ignored.length) {
    const shown = listing.ignored.slice(0, 3).map((p) => relative(root, p) || p).join(', ');
    notice(
      `${root}: ignored ${listing.ignored.length} file${listing.ignored.length === 1 ? '' : 's'} that ${
        listing.ignored.length === 1 ? 'is' : 'are'
      } ` +
        `not a .png/.jpg/.jpeg picture in a class folder (${shown}${listing.ignored.length > 3 ? ', ...' : ''})`,
    );
  }
  const cached = cachePath ? readImageCache(cachePath) : undefined;
  if (cached && cached.header.key === key) {
    return { part: partOf(root, cached.header, { path: cachePath!, fresh: true }), decoded: cached };
  }
  if (total >= (options.largeFolderFiles ?? LARGE_FOLDER_FILES)) {
    notice(
      `${root}: ${total} files; decoding them takes a while the first time (the result is cached${
        cachePath ? ` in ${cachePath}` : ' only with a cache folder'
      })`,
    );
  }
  const plane = channels * height * width;
  const images = new Uint8Array(listing.files.length * plane);
  const labels = new Uint8Array(listing.files.length);
  const counts = new Array<number>(listing.classes.length).fill(0);
  const skipped = [...skippedListing];
  let gray = 0;
  let color = 0;
  let firstGray = '';
  let firstColor = '';
  const minSize: [number, number] = [Infinity, Infinity];
  const maxSize: [number, number] = [0, 0];
  let count = 0;
  for (const [i, file] of listing.files.entries()) {
    let picture: RasterImage;
    try {
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(file.path);
      } catch (err) {
        throw new DataError(
          file.path,
          `cannot be read: ${describeFsError(err)}`,
          'Check its permissions, remove it, or pass --skip-bad-files',
        );
      }
      try {
        picture = decodePicture(bytes, file.path);
      } catch (err) {
        if (err instanceof DataError) throw err;
        throw new DataError(
          file.path,
          (err as { problem?: string }).problem ?? (err as Error).message,
          'Replace or remove the file, or pass --skip-bad-files',
        );
      }
    } catch (err) {
      if (!options.skipBadFiles) throw err;
      skipped.push({ path: file.path, problem: (err as DataError).problem });
      continue;
    }
    if (picture.channels === 1) {
      gray++;
      firstGray ||= file.path;
    } else {
      color++;
      firstColor ||= file.path;
    }
    minSize[0] = Math.min(minSize[0], picture.width);
    minSize[1] = Math.min(minSize[1], picture.height);
    maxSize[0] = Math.max(maxSize[0], picture.width);
    maxSize[1] = Math.max(maxSize[1], picture.height);
    images.set(resizeToPlanar(convertChannels(picture, channels), width, height), count * plane);
    labels[count] = file.label;
    counts[file.label]++;
    count++;
    if (options.onProgress && (i + 1) % 500 === 0) options.onProgress(i + 1, listing.files.length);
  }
  options.onProgress?.(listing.files.length, listing.files.length);
  listing.classes.forEach((name, label) => {
    if (counts[label] === 0) {
      throw new DataError(
        join(root, name),
        `has no picture that could be read (all ${
          skipped.filter((s) => s.path.startsWith(join(root, name))).length
        } skipped)`,
        'Replace the damaged files or remove the folder',
      );
    }
  });
  if (gray && color) {
    notice(
      `${root}: mixed channel counts: ${gray} gray picture${gray === 1 ? '' : 's'} (first: ${
        relative(root, firstGray)
      }) and ${color} in color ` +
        `(first: ${relative(root, firstColor)}); all are converted to ${
          channels === 1 ? 'gray' : 'RGB'
        }, the model's input`,
    );
  }
  const header: CacheHeader = {
    version: CACHE_VERSION,
    key,
    dir: resolve(root),
    height,
    width,
    channels,
    count,
    classes: listing.classes,
    counts,
    gray,
    color,
    minSize: count ? minSize : [0, 0],
    maxSize,
    skipped,
  };
  const decoded = { header, labels: labels.subarray(0, count), images: images.subarray(0, count * plane) };
  let cache: FolderPart['cache'] = null;
  if (cachePath) {
    try {
      writeFileAtomicSync(cachePath, encodeImageCache(header, decoded.labels, decoded.images));
      cache = { path: cachePath, fresh: false };
    } catch (err) {
      notice(
        `could not cache the decoded pictures of ${root}: ${(err as Error).message}; the next run decodes them again`,
      );
    }
  }
  return { part: partOf(root, header, cache), decoded };
}

function partOf(root: string, header: CacheHeader, cache: FolderPart['cache']): FolderPart {
  return {
    dir: root,
    counts: header.counts,
    gray: header.gray,
    color: header.color,
    minSize: header.minSize,
    maxSize: header.maxSize,
    skipped: header.skipped,
    cache,
  };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The folder's layout: DIR/train + DIR/test, or DIR itself as the class folders. */
export function imageFolderLayout(dir: string): 'train-test' | 'split' {
  return isDirectory(join(dir, 'train')) && isDirectory(join(dir, 'test')) ? 'train-test' : 'split';
}

/** Per-channel mean and (population) standard deviation of planar [count, C, H*W] pixels as x / 255. */
export function channelStatistics(images: Uint8Array, channels: number, plane: number): Normalization {
  const count = images.length / (channels * plane);
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < channels; c++) {
    // Histograms keep the sums exact and fast.
    const histogram = new Float64Array(256);
    for (let n = 0; n < count; n++) {
      const base = (n * channels + c) * plane;
      for (let i = 0; i < plane; i++) histogram[images[base + i]]++;
    }
    const total = count * plane;
    let sum = 0;
    for (let v = 0; v < 256; v++) sum += histogram[v] * v;
    const m = sum / total / 255;
    let squares = 0;
    for (let v = 0; v < 256; v++) squares += histogram[v] * (v / 255 - m) ** 2;
    const s = Math.sqrt(squares / total);
    mean.push(m);
    std.push(s > 1e-6 ? s : 1);
  }
  return { mean, std };
}

/** The seeded split of `count` samples: which go to the test split (at least one each side). */
export function splitIndices(
  count: number,
  testFraction: number,
  seed: number,
): { train: Uint32Array; test: Uint32Array } {
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new RangeError(`test fraction must be between 0 and 1, got ${testFraction}`);
  }
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  new Rng((seed ^ 0x5d1f_0a7b) >>> 0).shuffle(order);
  const testCount = Math.min(count - 1, Math.max(1, Math.round(count * testFraction)));
  return { test: order.slice(0, testCount).sort(), train: order.slice(testCount).sort() };
}

function take(decoded: DecodedPart, indices: Uint32Array, plane: number): { images: Uint8Array; labels: Uint8Array } {
  const images = new Uint8Array(indices.length * plane);
  const labels = new Uint8Array(indices.length);
  indices.forEach((index, i) => {
    images.set(decoded.images.subarray(index * plane, (index + 1) * plane), i * plane);
    labels[i] = decoded.labels[index];
  });
  return { images, labels };
}

function splitOf(
  images: Uint8Array,
  labels: Uint8Array,
  channels: number,
  height: number,
  width: number,
  classes: string[],
  source: string,
  normalization?: Normalization,
): MnistSplit {
  return {
    images,
    labels,
    count: labels.length,
    rows: height,
    cols: width,
    channels,
    imagesPath: source,
    dataset: 'folder',
    classes,
    normalization,
  };
}

/**
 * Loads a folder of labelled pictures, a subfolder per class (class names sorted, as torchvision's
 * ImageFolder): `DIR/train/<class>/...` and `DIR/test/<class>/...` as the two splits, or
 * `DIR/<class>/...` split by a seeded shuffle (`testFraction`, default 0.1; `seed`, default 1).
 * PNG and JPEG pictures of any size, gray or color, become `channels` x `size` inputs (area
 * averaging when shrinking, bilinear when enlarging); the decoded folder is cached (see `cacheDir`)
 * and read again only when its files change. The training split's per-channel mean and standard
 * deviation come back as `normalization` (and on each split), for the network's input.
 *
 * @throws DataError naming the file or folder at fault: a file that is not a picture or is
 *   truncated (unless `skipBadFiles`), a class folder without pictures, a single class, a
 *   symbolic-link loop, test classes the training split lacks.
 */
export function loadImageFolder(dir: string, options: ImageFolderOptions): ImageFolderDataset {
  const [height, width] = sizeOf(options.size);
  const channels = options.channels;
  if (channels !== 1 && channels !== 3) {
    throw new RangeError(`loadImageFolder: channels must be 1 or 3, got ${channels}`);
  }
  const root = resolve(dir);
  const plane = channels * height * width;
  const layout = imageFolderLayout(root);
  if (layout === 'train-test') {
    const trainPart = readPart(join(root, 'train'), height, width, channels, options);
    const testPart = readPart(join(root, 'test'), height, width, channels, options);
    const classes = trainPart.decoded.header.classes;
    const testClasses = testPart.decoded.header.classes;
    const unknown = testClasses.filter((name) => !classes.includes(name));
    if (unknown.length) {
      throw new DataError(
        join(root, 'test'),
        `has class folders the training split lacks: ${unknown.join(', ')}`,
        `Give ${join(root, 'train')} the same class folders (it has ${classes.join(', ')})`,
      );
    }
    // Test labels are positions in the training split's classes.
    const remap = Uint8Array.from(testClasses, (name) => classes.indexOf(name));
    const testLabels = testPart.decoded.labels.map((label) => remap[label]);
    const normalization = channelStatistics(trainPart.decoded.images, channels, height * width);
    return {
      dir: root,
      layout,
      classes,
      normalization,
      parts: [trainPart.part, testPart.part],
      train: splitOf(
        trainPart.decoded.images,
        trainPart.decoded.labels,
        channels,
        height,
        width,
        classes,
        join(root, 'train'),
        normalization,
      ),
      test: splitOf(
        testPart.decoded.images,
        testLabels,
        channels,
        height,
        width,
        classes,
        join(root, 'test'),
        normalization,
      ),
    };
  }
  const testFraction = options.testFraction ?? 0.1;
  const seed = options.seed ?? 1;
  const whole = readPart(root, height, width, channels, options);
  const count = whole.decoded.header.count;
  if (count < 2) {
    throw new DataError(
      root,
      `holds ${count} readable picture${count === 1 ? '' : 's'}: too few to split into train and test`,
      'Add pictures',
    );
  }
  const indices = splitIndices(count, testFraction, seed);
  const trainData = take(whole.decoded, indices.train, plane);
  const testData = take(whole.decoded, indices.test, plane);
  const classes = whole.decoded.header.classes;
  const normalization = channelStatistics(trainData.images, channels, height * width);
  return {
    dir: root,
    layout,
    classes,
    normalization,
    parts: [whole.part],
    testFraction,
    seed,
    train: splitOf(trainData.images, trainData.labels, channels, height, width, classes, root, normalization),
    test: splitOf(testData.images, testData.labels, channels, height, width, classes, root, normalization),
  };
}

/** A picture's size and channels from its header alone (PNG IHDR, JPEG frame header), or undefined. */
export function peekPicture(bytes: Uint8Array): { width: number; height: number; channels: 1 | 3 } | undefined {
  if (bytes.length >= 26 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const colorType = bytes[25];
    return {
      width: view.getUint32(16),
      height: view.getUint32(20),
      channels: colorType === 0 || colorType === 4 ? 1 : 3,
    };
  }
  const frame = isJpeg(bytes) ? jpegFrame(bytes) : undefined;
  return frame ? { width: frame.width, height: frame.height, channels: frame.components === 1 ? 1 : 3 } : undefined;
}

/** What `info --dataset folder` reports of one folder of class folders. */
export interface FolderDescription {
  dir: string;
  classes: string[];
  /** Pictures per class. */
  counts: number[];
  ignored: number;
  /** From the pictures' headers: gray and color counts, smallest and largest width x height, unreadable headers. */
  gray: number;
  color: number;
  minSize: [number, number];
  maxSize: [number, number];
  unreadable: string[];
  /** Cache files of this folder (one per input size and channels), and whether each matches the folder now. */
  caches: { path: string; height: number; width: number; channels: number; fresh: boolean }[];
}

/** The folder as {@link loadImageFolder} would find it, from file headers, without decoding: for `info`. */
export function describeImageFolder(dir: string, options: Pick<ImageFolderOptions, 'cacheDir'> = {}): {
  layout: 'train-test' | 'split';
  parts: FolderDescription[];
} {
  const root = resolve(dir);
  const layout = imageFolderLayout(root);
  const roots = layout === 'train-test' ? [join(root, 'train'), join(root, 'test')] : [root];
  const cacheDir = options.cacheDir === undefined ? defaultImageCacheDir() : options.cacheDir;
  return {
    layout,
    parts: roots.map((partRoot): FolderDescription => {
      const listing = listClassFolders(partRoot);
      const counts = listing.classes.map((_, label) => listing.files.filter((f) => f.label === label).length);
      const described: FolderDescription = {
        dir: partRoot,
        classes: listing.classes,
        counts,
        ignored: listing.ignored.length,
        gray: 0,
        color: 0,
        minSize: [Infinity, Infinity],
        maxSize: [0, 0],
        unreadable: [],
        caches: [],
      };
      for (const file of listing.files) {
        let header;
        try {
          header = peekPicture(readFileSync(file.path));
        } catch {
          header = undefined;
        }
        if (!header) {
          described.unreadable.push(file.path);
          continue;
        }
        if (header.channels === 1) described.gray++;
        else described.color++;
        described.minSize = [
          Math.min(described.minSize[0], header.width),
          Math.min(described.minSize[1], header.height),
        ];
        described.maxSize = [
          Math.max(described.maxSize[0], header.width),
          Math.max(described.maxSize[1], header.height),
        ];
      }
      if (cacheDir !== false) {
        let names: string[] = [];
        try {
          names = readdirSync(cacheDir).filter((n) => n.endsWith('.bin')).sort();
        } catch {
          // No cache folder yet: nothing cached.
        }
        for (const name of names) {
          const cached = readImageCache(join(cacheDir, name));
          if (!cached || cached.header.dir !== partRoot) continue;
          const { height, width, channels } = cached.header;
          described.caches.push({
            path: join(cacheDir, name),
            height,
            width,
            channels,
            fresh: cached.header.key === listingKey(listing, height, width, channels),
          });
        }
      }
      return described;
    }),
  };
}
