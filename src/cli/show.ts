// `show`: lets a user look at the data: chosen MNIST images as PNG files and as terminal art.
import { ensureDir, writeFileAtomicSync } from '../io/files.ts';
import { join } from 'node:path';
import { loadMnist } from '../data/mnist.ts';
import { encodePngGray } from '../io/png.ts';
import { terminalArt } from '../io/digit-image.ts';
import { choiceOption, parseCommandArgs, UsageError } from './args.ts';
import { dataOptions } from './common.ts';

export const SHOW_HELP = `Usage: show [options]

Prints MNIST images with their labels in the terminal and, with --out-dir, writes them as PNG files
named <split>-<index>-label<digit>.png.

Options:
  --split train|test   which split (default: train)
  --index LIST         image indices: comma-separated numbers and ranges, e.g. 0-4,100 (default: 0-4)
  --out-dir DIR        also write PNG files there (created if missing)
  --no-art             do not print terminal art
  --data DIR           MNIST directory (default: $MNIST_DIR, else data/mnist, downloaded if missing)
  --no-verify          do not verify the MNIST checksums
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
    'no-art': { type: 'boolean', default: false } as const,
    help: { type: 'boolean', short: 'h', default: false } as const,
    ...dataOptions,
  });
  if (values.help) {
    console.log(SHOW_HELP);
    return 0;
  }
  const split = choiceOption(values.split, 'split', ['train', 'test'] as const);
  const data = await loadMnist({ dir: values.data, split, verify: !values['no-verify'], onProgress: (m) => console.error(m) });
  if (data.count === 0) throw new Error(`${data.imagesPath ?? `the ${split} split`} holds 0 images: nothing to show`);
  const indices = parseIndexList(values.index!, data.count);
  const size = data.rows * data.cols;
  const outDir = values['out-dir'];
  if (outDir) ensureDir(outDir); // before any output: a bad --out-dir fails at once
  for (const index of indices) {
    const pixels = data.images.subarray(index * size, (index + 1) * size);
    const label = data.labels[index];
    console.log(`${split} #${index}: label ${label}`);
    if (!values['no-art']) console.log(terminalArt(pixels, data.cols, data.rows));
    if (outDir) {
      const file = join(outDir, `${split}-${index}-label${label}.png`);
      writeFileAtomicSync(file, encodePngGray({ width: data.cols, height: data.rows, pixels: pixels.slice() }));
      console.log(`wrote ${file}`);
    }
  }
  return 0;
}
