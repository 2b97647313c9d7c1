// `show`: lets a user look at the data: chosen MNIST images as PNG files and as terminal art.
import { ensureDir, writeFileAtomicSync } from '../io/files.ts';
import { join } from 'node:path';
import { loadMnist, type MnistSplit } from '../data/mnist.ts';
import { FOLDER_DATASET, FOLDER_HELP, folderOptions, loadFolderForModel } from './folder-data.ts';
import { modelOption } from './model-option.ts';
import { encodePng } from '../io/png.ts';
import { checkWriteTarget } from '../io/write-target.ts';
import { terminalArt } from '../io/digit-image.ts';
import { choiceOption, intOption, parseCommandArgs, UsageError } from './args.ts';
import { DATA_HELP, dataOptions, datasetOption, DEVICE_HELP, deviceOptions, gpuOptions } from './common.ts';
import { className } from '../data/datasets.ts';
import { type Gpu, openGpu } from '../gpu/device.ts';
import { createStorageBuffer, createUniformBuffer, readF32, writeBuffer } from '../gpu/buffers.ts';
import { submitDispatches } from '../gpu/kernel.ts';
import { augmentAffine, DEFAULT_AUGMENT } from '../kernels/augment.ts';
import { rngUniforms } from '../kernels/dropout.ts';
import { augmentDraw } from '../reference/augment.ts';

export const SHOW_HELP = `Usage: show [options]

Prints MNIST images with their labels in the terminal and, with --out-dir, writes them as PNG files
named <split>-<index>-label<digit>.png. With --augment, also shows each image as train --augment would
see it (the GPU kernel itself), written as <split>-<index>-label<digit>-augmented.png. With --dataset
folder --data DIR, shows your pictures as --model sees them: converted to its channels (RGB PNG files
for a color model) and resized to its input size, from the split train --seed N would make.

Options:
  --split train|test   which split (default: train)
  --index LIST         image indices: comma-separated numbers and ranges, e.g. 0-4,100 (default: 0-4)
  --out-dir DIR        also write PNG files there (created if missing)
  --overwrite          replace PNG files that already exist there
  --no-art             do not print terminal art
  --augment            also show the images after train --augment's random affine transform (run
                       on the GPU): the draw of the image at that position of a batch at --step
                       of a run with --seed
  --seed N             the run's seed, for --augment and --dataset folder's split (default: 1)
  --step N             the training step, for --augment (default: 1, the first)
  --model NAME|FILE    with --dataset folder: the model whose input the pictures are made for
                       (default: digit, 1x28x28); its class count need not match the folder's
${DATA_HELP}
${FOLDER_HELP}
${DEVICE_HELP}
                       (the GPU options above are used only with --augment)
  -h, --help           show this help`;

export function parseIndexList(text: string, count: number): number[] {
  const out: number[] = [];
  for (const part of text.split(',')) {
    const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!match) throw new UsageError(`--index: cannot read "${part}"; use numbers and ranges like 0-4,100`);
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    if (last < first) throw new UsageError(`--index: range ${part} runs backwards`);
    if (last >= count) throw new UsageError(`--index: ${last} is past the last image (${count - 1})`);
    if (last - first > 10000) throw new UsageError(`--index: range ${part} is too long (at most 10000 images)`);
    for (let i = first; i <= last; i++) out.push(i);
  }
  return out;
}

export async function showCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    split: { type: 'string', default: 'train' } as const,
    index: { type: 'string', default: '0-4' } as const,
    'out-dir': { type: 'string' } as const,
    overwrite: { type: 'boolean', default: false } as const,
    'no-art': { type: 'boolean', default: false } as const,
    augment: { type: 'boolean', default: false } as const,
    seed: { type: 'string', default: '1' } as const,
    step: { type: 'string', default: '1' } as const,
    model: { type: 'string' } as const,
    help: { type: 'boolean', short: 'h', default: false } as const,
    ...dataOptions,
    ...folderOptions,
    ...deviceOptions,
  });
  if (values.help) {
    console.log(SHOW_HELP);
    return 0;
  }
  const split = choiceOption(values.split, 'split', ['train', 'test'] as const);
  const device = gpuOptions(values);
  const seed = intOption(values.seed, 'seed', 0, 0xffffffff);
  const step = intOption(values.step, 'step', 1, 0xffffffff);
  const folder = values.dataset === FOLDER_DATASET;
  if (!folder && (values.model !== undefined || values['test-fraction'] !== undefined || values['skip-bad-files'])) {
    throw new UsageError('--model, --test-fraction and --skip-bad-files go with --dataset folder');
  }
  let data: MnistSplit;
  let classes: readonly string[] | undefined;
  if (folder) {
    const model = modelOption(values.model ?? 'digit');
    const load = loadFolderForModel(values.data, model, {
      testFraction: values['test-fraction'],
      seed,
      skipBadFiles: values['skip-bad-files']!,
      log: (line) => console.error(line),
      anyClassCount: true,
    });
    data = load.data[split];
    classes = load.data.classes;
    const [channels, height, width] = model.input;
    console.error(`as model ${model.name} sees them: ${channels === 3 ? 'RGB' : 'gray'}, ${width}x${height}`);
  } else {
    const dataset = datasetOption(values.dataset);
    data = await loadMnist({
      dataset,
      dir: values.data,
      split,
      verify: !values['no-verify'],
      onProgress: (m) => console.error(m),
    });
    if (dataset.name !== 'mnist') classes = dataset.classes;
  }
  if (data.count === 0) throw new Error(`${data.imagesPath ?? `the ${split} split`} holds 0 images: nothing to show`);
  const indices = parseIndexList(values.index!, data.count);
  const channels = (data.channels ?? 1) as 1 | 3;
  const size = channels * data.rows * data.cols;
  const outDir = values['out-dir'];
  const pngPath = (index: number, suffix: string) =>
    join(outDir!, `${split}-${index}-label${data.labels[index]}${suffix}.png`);
  if (outDir) {
    // Before any output or the GPU: a bad --out-dir, or a PNG it would replace unasked, fails at once.
    ensureDir(outDir);
    for (const index of indices) {
      for (const suffix of values.augment ? ['', '-augmented'] : ['']) {
        checkWriteTarget(pngPath(index, suffix), { what: '--out-dir', overwrite: values.overwrite });
      }
    }
  }
  const chosen = new Uint8Array(indices.length * size);
  indices.forEach((index, i) => chosen.set(data.images.subarray(index * size, (index + 1) * size), i * size));
  let augmented: Uint8Array | null = null;
  if (values.augment) {
    const gpu = await openGpu(device);
    try {
      augmented = await augmentOnGpu(gpu, chosen, indices.length, channels, data.rows, data.cols, seed, step);
    } finally {
      await gpu.close();
    }
  }
  for (const [i, index] of indices.entries()) {
    const label = data.labels[index];
    const views: [string, Uint8Array][] = [['', chosen.subarray(i * size, (i + 1) * size)]];
    console.log(`${split} #${index}: label ${label}${classes ? ` (${className(classes, label)})` : ''}`);
    if (augmented) views.push(['-augmented', augmented.subarray(i * size, (i + 1) * size)]);
    for (const [suffix, pixels] of views) {
      if (suffix) {
        const { angle, scale, shiftX, shiftY } = augmentDraw(DEFAULT_AUGMENT, seed, step, i);
        console.log(
          `augmented (seed ${seed}, step ${step}, batch position ${i}): rotated ${
            (angle * 180 / Math.PI).toFixed(1)
          }°, ` +
            `scaled ${scale.toFixed(3)}, shifted ${shiftX.toFixed(2)}, ${shiftY.toFixed(2)} px`,
        );
      }
      if (!values['no-art']) console.log(terminalArt(luminance(pixels, channels), data.cols, data.rows));
      if (outDir) {
        const file = pngPath(index, suffix);
        writeFileAtomicSync(
          file,
          encodePng({ width: data.cols, height: data.rows, channels, pixels: interleaved(pixels, channels) }),
        );
        console.log(`wrote ${file}`);
      }
    }
  }
  return 0;
}

/** A planar [C, H, W] picture's luminance plane, for terminal art (gray pictures as they are). */
function luminance(planar: Uint8Array, channels: 1 | 3): Uint8Array {
  if (channels === 1) return planar;
  const plane = planar.length / 3;
  const [r, g, b] = [0, 1, 2].map((c) => planar.subarray(c * plane, (c + 1) * plane));
  return Uint8Array.from(r, (v, i) => Math.round(0.299 * v + 0.587 * g[i] + 0.114 * b[i]));
}

/** A planar [C, H, W] picture as PNG's interleaved samples (a copy: the caller's view stays as it is). */
function interleaved(planar: Uint8Array, channels: 1 | 3): Uint8Array {
  if (channels === 1) return planar.slice();
  const plane = planar.length / 3;
  const out = new Uint8Array(planar.length);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[i * 3 + c] = planar[c * plane + i];
  }
  return out;
}

/**
 * `count` images through shaders/augment_affine.wgsl as one batch at (seed, step), exactly as training
 * runs it, with an identity normalization so the output is in pixel units; rounded to bytes for display.
 */
async function augmentOnGpu(
  gpu: Gpu,
  pixels: Uint8Array,
  count: number,
  channels: number,
  height: number,
  width: number,
  seed: number,
  step: number,
): Promise<Uint8Array> {
  const input = createStorageBuffer(gpu, 'show.pixels', pixels.length);
  const output = createStorageBuffer(gpu, 'show.augmented', pixels.length * 4);
  const rng = createUniformBuffer(gpu, 'show.rng', 16);
  try {
    writeBuffer(gpu, input, pixels);
    writeBuffer(gpu, rng, rngUniforms(seed, step));
    submitDispatches(
      gpu,
      await augmentAffine(gpu, { batch: count, channels, height, width }, DEFAULT_AUGMENT, rng, input, output, {
        mean: 0,
        std: 1 / 255,
      }),
      'show --augment',
    );
    const values = await readF32(gpu, output, pixels.length);
    return Uint8Array.from(values, (v) => Math.min(255, Math.max(0, Math.round(v))));
  } finally {
    for (const buffer of [input, output, rng]) buffer.destroy();
  }
}
