// Every preset (and the README's `tiny` example) as a user trains it, beside PyTorch training the same
// model in the same run: the CLI's `train` (its reported images/s, kernels already compiled and warmed)
// and `eval` under Node and Deno, and bench/pytorch_models.py (the model built from the same description,
// tensors preloaded, Adam, batch 64, 2 threads). Rounds interleave the three so a load change hits all
// of them; the table gives medians.
//   npm run bench:models [-- --rounds 3 --long --models fast,best --runtimes node]
//   deno run -A bench/models.ts [same flags]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { resolveDataDir } from '../src/data/mnist.ts';
import { getModel, type ModelSpec, resolveLayers } from '../src/nn/spec.ts';
import { cliCommand, projectRoot, type Runtime } from './epoch-figures.ts';
import { PYTHON } from './pytorch.ts';

/** examples/tiny-cnn.ts's model (the README's example of a network of one's own). */
const TINY: ModelSpec = {
  name: 'tiny',
  input: [1, 28, 28],
  classes: 10,
  layers: [
    { kind: 'conv2d', name: 'conv1', outChannels: 8, kernel: 3, padding: 1 },
    { kind: 'relu' },
    { kind: 'maxpool2d', kernel: 2 },
    { kind: 'conv2d', name: 'conv2', outChannels: 16, kernel: 3 },
    { kind: 'relu' },
    { kind: 'maxpool2d', kernel: 2 },
    { kind: 'flatten' },
    { kind: 'linear', name: 'fc', outFeatures: 10 },
  ],
};

/** Training images per run: short enough for a loaded 2-core machine (`best` trains at ~100 images/s). */
const SHORT: Record<string, number> = { digit: 3200, fast: 1280, best: 320, tiny: 3200 };
const LONG: Record<string, number> = { digit: 12800, fast: 6400, best: 1920, tiny: 12800 };
/** Test images evaluated per run (--eval-images overrides): `best` evaluates at ~100 images/s here. */
const EVAL: Record<string, number> = { digit: 2000, fast: 2000, best: 500, tiny: 2000 };

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    models: { type: 'string', default: 'digit,fast,best,tiny' },
    runtimes: { type: 'string', default: 'node,deno' },
    rounds: { type: 'string', default: '3' },
    long: { type: 'boolean', default: false },
    'eval-images': { type: 'string' },
    data: { type: 'string' },
  },
});

/** Multiply-adds x 2 of a training step per image: every conv and linear's forward, weight gradient and
 * input gradient (none for the first layer, whose input needs no gradient). Other layers are ignored. */
export function trainingFlopsPerImage(model: ModelSpec): { train: number; forward: number } {
  let forward = 0;
  let train = 0;
  resolveLayers(model).forEach((layer, index) => {
    const spec = layer.spec;
    let macs = 0;
    if (spec.kind === 'conv2d') {
      const [outChannels, outH, outW] = layer.outShape;
      macs = outChannels * outH * outW * layer.inShape[0] * spec.kernel * spec.kernel;
    } else if (spec.kind === 'linear') {
      macs = layer.inShape[0] * spec.outFeatures;
    }
    forward += 2 * macs;
    train += 2 * macs * (index === 0 ? 2 : 3);
  });
  return { train, forward };
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.trim().slice(-2000)}`));
      else resolvePromise(stdout);
    });
  });
}

function lastJson(stdout: string, event?: string): Record<string, unknown> {
  const objects = stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  const found = event ? objects.filter((o) => o.event === event).at(-1) : objects.at(-1);
  if (!found) throw new Error(`no ${event ?? 'JSON'} line in:\n${stdout.slice(-1000)}`);
  return found;
}

interface Rates {
  train: number;
  eval: number;
}

async function ours(runtime: Runtime, model: string, file: string, images: number, evalImages: number, dir: string) {
  const [command, ...prefix] = cliCommand(runtime);
  const out = join(dir, `${model}-${runtime}.safetensors`);
  const data = ['--data', dataDir];
  const trained = await run(command, [
    ...prefix,
    'train',
    '--model',
    file,
    '--epochs',
    '1',
    '--limit',
    String(images),
    '--batch-size',
    '64',
    '--no-test',
    '--no-augment',
    '--overwrite',
    '--json',
    '--out',
    out,
    ...data,
  ]);
  const evaluated = await run(command, [
    ...prefix,
    'eval',
    '--checkpoint',
    out,
    '--limit',
    String(evalImages),
    '--json',
    ...data,
  ]);
  return {
    train: lastJson(trained, 'epoch').images_per_second as number,
    eval: lastJson(evaluated).images_per_second as number,
  };
}

async function pytorch(specFile: string | null, images: number, evalImages: number): Promise<Rates> {
  const stdout = await run(PYTHON, [
    join(projectRoot, 'bench', 'pytorch_models.py'),
    ...(specFile ? ['--spec', specFile] : ['--tutorial']),
    '--train-images',
    String(images),
    '--eval-images',
    String(evalImages),
    '--threads',
    '2',
    '--data',
    dataDir,
  ]);
  const result = lastJson(stdout);
  return { train: result.train_images_per_second as number, eval: result.eval_images_per_second as number };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const dataDir = resolveDataDir(values.data);
const models = values.models.split(',');
const runtimes = values.runtimes.split(',') as Runtime[];
const rounds = Number(values.rounds);
const dir = mkdtempSync(join(tmpdir(), 'bench-models-'));
const peers = ['pytorch', ...runtimes, ...(models.includes('digit') ? ['pytorch-tutorial'] : [])];
const samples = new Map<string, Rates[]>();
const sample = (model: string, who: string) => samples.get(`${model}/${who}`) ?? [];
try {
  for (let round = 1; round <= rounds; round++) {
    for (const model of models) {
      const spec = model === 'tiny' ? TINY : getModel(model);
      const file = join(dir, `${model}.json`);
      writeFileSync(file, JSON.stringify(spec));
      const images = (values.long ? LONG : SHORT)[model] ?? 1920;
      const evalImages = Number(values['eval-images'] ?? EVAL[model] ?? 2000);
      for (const who of peers) {
        if (who === 'pytorch-tutorial' && model !== 'digit') continue;
        const rates = who === 'pytorch'
          ? await pytorch(file, images, evalImages)
          : who === 'pytorch-tutorial'
          ? await pytorch(null, images, evalImages)
          : await ours(who as Runtime, model, file, images, evalImages, dir);
        samples.set(`${model}/${who}`, [...sample(model, who), rates]);
        console.error(
          `[round ${round}] ${model} ${who}: train ${rates.train.toFixed(0)} images/s, eval ${
            rates.eval.toFixed(0)
          } images/s (${images} training images)`,
        );
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const rows: string[] = [
  '| model | GFLOP/image (train) | runtime | train images/s | PyTorch train | ratio | GFLOP/s | eval images/s | PyTorch eval | ratio |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
];
for (const model of models) {
  const flops = trainingFlopsPerImage(model === 'tiny' ? TINY : getModel(model));
  const torchTrain = median(sample(model, 'pytorch').map((r) => r.train));
  const torchEval = median(sample(model, 'pytorch').map((r) => r.eval));
  for (const runtime of runtimes) {
    const train = median(sample(model, runtime).map((r) => r.train));
    const evaluation = median(sample(model, runtime).map((r) => r.eval));
    rows.push(
      `| ${model} | ${(flops.train / 1e9).toFixed(4)} | ${runtime} | ${train.toFixed(0)} | ${torchTrain.toFixed(0)} | ${
        (train / torchTrain).toFixed(2)
      }x | ${(train * flops.train / 1e9).toFixed(1)} | ${evaluation.toFixed(0)} | ${torchEval.toFixed(0)} | ${
        (evaluation / torchEval).toFixed(2)
      }x |`,
    );
  }
  if (model === 'digit' && sample(model, 'pytorch-tutorial').length) {
    const tutorial = sample(model, 'pytorch-tutorial');
    rows.push(
      `| digit | | PyTorch, the tutorial's own program | ${median(tutorial.map((r) => r.train)).toFixed(0)} | | | | ${
        median(tutorial.map((r) => r.eval)).toFixed(0)
      } | | |`,
    );
  }
}
console.log(`medians of ${rounds} rounds, ${values.long ? 'long' : 'short'} runs, same run for every column`);
console.log(rows.join('\n'));
