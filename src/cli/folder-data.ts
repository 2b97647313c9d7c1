// `--dataset folder --data DIR`: the commands' side of src/data/image-folder.ts. What a run trained
// on (the folder, its classes, the split and the normalization) is recorded in the checkpoint's
// metadata, so eval reads the same test pictures and normalizes them as training did.
import { resolve } from 'node:path';
import { decodePicture, describeImageFolder, type ImageFolderDataset, loadImageFolder } from '../data/image-folder.ts';
import { convertChannels, resizeToPlanar } from '../io/resize.ts';
import { emitJson } from './progress.ts';
import type { MnistSplit } from '../data/mnist.ts';
import type { Normalization } from '../kernels/normalize.ts';
import type { ModelSpec } from '../nn/spec.ts';
import { UsageError } from './args.ts';

export const FOLDER_DATASET = 'folder';

export const folderOptions = {
  'test-fraction': { type: 'string' } as const,
  'skip-bad-files': { type: 'boolean', default: false } as const,
} as const;

/** Help lines of folderOptions. */
export const FOLDER_HELP =
  `  --test-fraction X    --dataset folder: your own pictures, --data DIR holding a folder of PNG or JPEG
                       pictures per class (or train/ and test/ folders of those); without train/ +
                       test/, the share held out for testing (default: 0.1; split seeded by --seed,
                       recorded in the checkpoint)
  --skip-bad-files     with --dataset folder: skip pictures that cannot be read, counting them`;

/** What --dataset folder looks like where commands expect a preset: a name and a title. */
export function folderDatasetInfo(dir: string): { name: string; title: string } {
  return { name: FOLDER_DATASET, title: `the pictures in ${dir}` };
}

export interface FolderLoad {
  data: ImageFolderDataset;
  /** Metadata recorded in the checkpoint. */
  run: Record<string, string>;
}

/** The model's input as loadImageFolder's options, refusing what it cannot take. */
function inputOf(model: ModelSpec): { channels: 1 | 3; size: [number, number] } {
  const [channels, height, width] = model.input;
  if (channels !== 1 && channels !== 3) {
    throw new UsageError(
      `model ${model.name} takes ${channels} input channels; pictures are read as 1 (gray) or 3 (RGB)`,
    );
  }
  return { channels, size: [height, width] };
}

/**
 * Loads DIR for `model` (train, show), checking that the folder has as many classes as the model
 * unless `anyClassCount` (show looks at the pictures before a model of the right size exists).
 */
export function loadFolderForModel(dir: string | undefined, model: ModelSpec, options: {
  testFraction?: string;
  seed: number;
  skipBadFiles: boolean;
  log: (line: string) => void;
  anyClassCount?: boolean;
}): FolderLoad {
  if (!dir) {
    throw new UsageError('--dataset folder needs --data DIR: a folder holding one folder of pictures per class');
  }
  let testFraction: number | undefined;
  if (options.testFraction !== undefined) {
    testFraction = /^(0(\.[0-9]+)?|\.[0-9]+)$/.test(options.testFraction) ? Number(options.testFraction) : NaN;
    if (!(testFraction > 0 && testFraction < 1)) {
      throw new UsageError(`--test-fraction must be a number between 0 and 1, got ${options.testFraction}`);
    }
  }
  const data = read(dir, model, {
    testFraction,
    seed: options.seed,
    skipBadFiles: options.skipBadFiles,
    log: options.log,
  });
  if (!options.anyClassCount && data.classes.length !== model.classes) {
    throw new UsageError(
      `${resolve(dir)} has ${data.classes.length} class folders (${data.classes.join(', ')}), model ${model.name} ` +
        `has ${model.classes} outputs: use a model file with "classes": ${data.classes.length}`,
    );
  }
  const run: Record<string, string> = {
    data_dir: data.dir,
    data_layout: data.layout,
    classes: JSON.stringify(data.classes),
    normalization: JSON.stringify(data.normalization),
  };
  if (data.layout === 'split') {
    run.test_fraction = String(data.testFraction);
    run.split_seed = String(data.seed);
  }
  return { data, run };
}

/** Loads the folder a checkpoint was trained on (or `dir`), split and normalized as its metadata records. */
export function loadFolderForCheckpoint(
  dir: string | undefined,
  model: ModelSpec,
  metadata: Record<string, string>,
  options: {
    skipBadFiles: boolean;
    log: (line: string) => void;
  },
): { data: ImageFolderDataset; normalization: Normalization; classes: string[] } {
  const folder = dir ?? metadata.data_dir;
  if (!folder) {
    throw new UsageError(
      '--dataset folder needs --data DIR (the checkpoint does not name the folder it was trained on)',
    );
  }
  const data = read(folder, model, {
    testFraction: metadata.test_fraction === undefined ? undefined : Number(metadata.test_fraction),
    seed: metadata.split_seed === undefined ? 1 : Number(metadata.split_seed),
    skipBadFiles: options.skipBadFiles,
    log: options.log,
  });
  const classes: string[] = recordedPreprocessing(metadata).classes ?? data.classes;
  if (JSON.stringify(classes) !== JSON.stringify(data.classes)) {
    options.log(
      `warning: ${data.dir} has classes ${data.classes.join(', ')}; the checkpoint was trained on ${
        classes.join(', ')
      }`,
    );
  }
  const normalization: Normalization = recordedPreprocessing(metadata).normalization ?? data.normalization;
  for (const split of [data.train, data.test]) split.normalization = normalization;
  return { data, normalization, classes };
}

function read(
  dir: string,
  model: ModelSpec,
  options: { testFraction?: number; seed: number; skipBadFiles: boolean; log: (line: string) => void },
) {
  const started = performance.now();
  const data = loadImageFolder(dir, {
    ...inputOf(model),
    testFraction: options.testFraction,
    seed: options.seed,
    skipBadFiles: options.skipBadFiles,
    onNotice: (message) => options.log(`note: ${message}`),
  });
  const skipped = data.parts.reduce((n, p) => n + p.skipped.length, 0);
  const cached = data.parts.every((p) => p.cache?.fresh);
  options.log(
    `${data.dir}: ${data.classes.length} classes, ${data.train.count} training and ${data.test.count} test pictures` +
      `${data.layout === 'split' ? ` (split ${1 - data.testFraction!}/${data.testFraction}, seed ${data.seed})` : ''}` +
      `${skipped ? `, ${skipped} bad file${skipped === 1 ? '' : 's'} skipped` : ''}, ` +
      `${cached ? 'read from the cache' : 'decoded'} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return data;
}

/** The splits, as MnistSplit, for the commands. */
export function folderSplit(data: ImageFolderDataset, split: 'train' | 'test'): MnistSplit {
  return split === 'train' ? data.train : data.test;
}

/** `info --dataset folder --data DIR`: what the folder holds and whether its caches are fresh, without decoding. */
export function folderInfo(dir: string | undefined, json: boolean): number {
  if (!dir) {
    throw new UsageError('--dataset folder needs --data DIR: a folder holding one folder of pictures per class');
  }
  const described = describeImageFolder(dir);
  if (json) {
    emitJson({ dataset: FOLDER_DATASET, dir: resolve(dir), ...described } as unknown as Record<string, unknown>);
    return 0;
  }
  const lines = [
    `data        ${resolve(dir)}: ${
      described.layout === 'train-test' ? 'train/ and test/' : 'one folder, split by --test-fraction'
    }`,
  ];
  for (const part of described.parts) {
    const total = part.counts.reduce((a, b) => a + b, 0);
    const size = (s: [number, number]) => `${s[0]}x${s[1]}`;
    lines.push(
      `  ${part.dir}: ${part.classes.length} classes, ${total} pictures` +
        (total ? `, ${size(part.minSize)} to ${size(part.maxSize)}, ${part.color} in color, ${part.gray} gray` : '') +
        (part.ignored ? `, ${part.ignored} other files ignored` : '') +
        (part.unreadable.length
          ? `, ${part.unreadable.length} not readable as PNG or JPEG (first: ${part.unreadable[0]})`
          : ''),
      ...part.classes.map((name, label) =>
        `    ${name.padEnd(Math.max(...part.classes.map((c) => c.length)))}  ${part.counts[label]}`
      ),
      ...(part.caches.length
        ? part.caches.map((c) =>
          `    cache ${c.channels}x${c.height}x${c.width}: ${
            c.fresh ? 'fresh' : 'stale (the folder changed; the next run decodes it again)'
          } (${c.path})`
        )
        : ['    cache: none yet (the first train or eval decodes the pictures and caches them)']),
    );
  }
  console.log(lines.join('\n'));
  return 0;
}

/** A picture file (PNG or JPEG) as `model`'s input: its channels and size, planar bytes. */
export function pictureForModel(bytes: Uint8Array, file: string, model: ModelSpec): Uint8Array {
  const { channels, size } = inputOf(model);
  return resizeToPlanar(convertChannels(decodePicture(bytes, file), channels), size[1], size[0]);
}

/** A checkpoint's recorded input normalization and class names, where it records them. */
export function recordedPreprocessing(
  metadata: Record<string, string>,
): { normalization?: Normalization; classes?: string[] } {
  return {
    normalization: metadata.normalization === undefined
      ? undefined
      : recorded(metadata.normalization, 'normalization', isNormalization),
    classes: metadata.classes === undefined ? undefined : recorded(metadata.classes, 'classes', isNameList),
  };
}

/** A recorded JSON value, checked: a damaged checkpoint is named as such, not met with a SyntaxError. */
function recorded<T>(text: string, key: string, valid: (value: unknown) => value is T): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (!valid(value)) {
    throw new UsageError(`the checkpoint's metadata "${key}" is not what train records: ${text.slice(0, 100)}`);
  }
  return value;
}

function isNormalization(value: unknown): value is Normalization {
  const n = value as Normalization;
  const numbers = (a: unknown) => Array.isArray(a) && a.length >= 1 && a.length <= 3 && a.every(Number.isFinite);
  return typeof n === 'object' && n !== null && numbers(n.mean) && numbers(n.std) && n.mean.length === n.std.length &&
    n.std.every((s) => s > 0);
}

function isNameList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}
