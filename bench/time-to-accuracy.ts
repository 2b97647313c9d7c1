// How good a model, how soon: wall-clock seconds from process start until the test accuracy (measured
// after every epoch, over the 10,000 test images) first reaches 99.0 % and 99.5 %, for presets trained
// with their own recipes through the real CLI under Node and Deno, beside PyTorch on the CPU training the
// same model with the same recipe (bench/pytorch_recipe.py: same schedule, the same augmentation's
// distribution, its own initialization and shuffle) in the same run. Prints a Markdown table.
//   node build/bench/time-to-accuracy.js [--models fast,best] [--runtimes node,deno,pytorch] [--seed 1]
//                                        [--epochs N] [--limit N] [--threads 2] [--json FILE]
//   deno run -A bench/time-to-accuracy.ts [same]          (Node's row needs npm run build)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { resolveDataDir } from '../src/data/mnist.ts';
import { getModel, RECIPES } from '../src/nn/spec.ts';
import { cliCommand, projectRoot, timedEvents } from './epoch-figures.ts';
import { hasTorch, PYTHON } from './pytorch.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    models: { type: 'string', default: 'fast,best' },
    runtimes: { type: 'string', default: 'node,deno,pytorch' },
    seed: { type: 'string', default: '1' },
    epochs: { type: 'string' },
    limit: { type: 'string' },
    threads: { type: 'string', default: '2' },
    data: { type: 'string' },
    json: { type: 'string' },
  },
});
const THRESHOLDS = [0.99, 0.995];
const dataDir = resolveDataDir(values.data);
const scratch = mkdtempSync(join(tmpdir(), 'time-to-accuracy-'));

type Runtime = 'node' | 'deno' | 'pytorch';
interface Row {
  model: string;
  runtime: Runtime;
  epochs: number;
  /** Seconds from spawn to the epoch event that first reached each threshold; null if never. */
  reached: (number | null)[];
  accuracy: number;
  wall: number;
  command: string;
}

function commandFor(model: string, runtime: Runtime, epochs: number): string[] {
  const recipe = RECIPES.get(model) ?? {};
  const common = [`--seed`, values.seed!, ...(values.limit ? ['--limit', values.limit] : [])];
  if (runtime === 'pytorch') {
    const specFile = join(scratch, `${model}.json`);
    writeFileSync(specFile, JSON.stringify(getModel(model)));
    return [
      PYTHON,
      join(projectRoot, 'bench', 'pytorch_recipe.py'),
      ...['--spec', specFile, '--data', dataDir, '--epochs', String(epochs), '--threads', values.threads!],
      ...(recipe.lr !== undefined ? ['--lr', String(recipe.lr)] : []),
      ...(recipe.schedule ? ['--schedule', recipe.schedule] : []),
      ...(recipe.augment ? ['--augment'] : []),
      ...common,
    ];
  }
  const out = join(scratch, `${model}-${runtime}.safetensors`);
  return [
    ...cliCommand(runtime),
    ...['train', '--model', model, '--epochs', String(epochs), '--data', dataDir, '--out', out, '--overwrite'],
    ...['--json', ...common],
  ];
}

const rows: Row[] = [];
const runtimes = values.runtimes!.split(',') as Runtime[];
for (const model of values.models!.split(',')) {
  const epochs = Number(values.epochs ?? RECIPES.get(model)?.epochs ?? 20);
  for (const runtime of runtimes) {
    if (runtime === 'pytorch' && !hasTorch()) {
      console.error(`PyTorch row skipped: ${PYTHON} cannot import torch (Debian: apt-get install python3-torch)`);
      continue;
    }
    const command = commandFor(model, runtime, epochs);
    console.error(`${model} / ${runtime}: ${command.join(' ')}`);
    const { events, exitAt: wall } = await timedEvents(command);
    const seen = events.filter((e) => e.event === 'epoch').map((e) => ({
      at: e.at,
      accuracy: e.test_accuracy as number,
    }));
    const reached = THRESHOLDS.map((t) => seen.find((e) => e.accuracy >= t)?.at ?? null);
    rows.push({
      model,
      runtime,
      epochs,
      reached,
      accuracy: seen.at(-1)?.accuracy ?? NaN,
      wall,
      command: command.join(' '),
    });
    console.error(`  ${seen.map((e) => `${(100 * e.accuracy).toFixed(2)} % at ${e.at.toFixed(0)} s`).join(', ')}`);
  }
}
rmSync(scratch, { recursive: true, force: true });

const seconds = (s: number | null) => (s === null ? 'not reached' : `${s.toFixed(0)} s`);
console.log(`| model | runtime | epochs | to 99.0 % | to 99.5 % | final test accuracy | wall |`);
console.log(`| --- | --- | --- | --- | --- | --- | --- |`);
for (const r of rows) {
  const name = r.runtime === 'pytorch' ? `PyTorch ${values.threads} threads (CPU)` : r.runtime;
  console.log(
    `| ${r.model} | ${name} | ${r.epochs} | ${r.reached.map(seconds).join(' | ')} | ${
      (100 * r.accuracy).toFixed(2)
    } % | ${r.wall.toFixed(0)} s |`,
  );
}
if (values.json) writeFileSync(values.json, JSON.stringify({ seed: Number(values.seed), rows }, null, 2) + '\n');
