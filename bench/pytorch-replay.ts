// Same start, same data, two engines: trains a model (`digit` by default) here and in PyTorch
// (bench/pytorch_recipe.py) from the same initial weights on the same shuffled order with the preset's
// recipe (learning rate, schedule, augmentation with the same Philox draws; Adam 1e-3, constant, for
// `digit` and model files), then prints both test accuracies per epoch. A schedule that spans the run
// (one-cycle) is compressed into --epochs, so a shortened replay runs the whole cycle. A gap beyond float
// noise would point at a semantic difference (init, loss scaling, Adam, batch norm's statistics,
// augmentation) that kernel-level tests cannot see. Dropout draws its own masks on each side, so a model
// with dropout agrees only statistically; --no-dropout removes its dropout layers (both sides) for a
// replay of everything else.
//   node build/bench/pytorch-replay.js [--model digit|fast|best|FILE.json] [--no-dropout] [--seed 1] [--epochs 1] [--data DIR]
//   deno run -A bench/pytorch-replay.ts [same]                                   (needs python3 with torch)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { epochOrder } from '../src/data/batches.ts';
import { loadMnist, resolveDataDir } from '../src/data/mnist.ts';
import { openGpu } from '../src/gpu/device.ts';
import { ADAM_DEFAULTS } from '../src/kernels/adam.ts';
import { DEFAULT_AUGMENT } from '../src/kernels/augment.ts';
import { initParameters, ParameterLayout } from '../src/nn/parameters.ts';
import { getModel, parameterSpecs, RECIPES } from '../src/nn/spec.ts';
import { checkModelSpec } from '../src/nn/model-file.ts';
import { saveCheckpoint } from '../src/train/checkpoint.ts';
import { initialState, train, type TrainConfig } from '../src/train/trainer.ts';
import { projectRoot } from './epoch-figures.ts';
import { PYTHON } from './pytorch.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    model: { type: 'string', default: 'digit' },
    seed: { type: 'string', default: '1' },
    epochs: { type: 'string', default: '1' },
    data: { type: 'string' },
    'no-dropout': { type: 'boolean', default: false },
  },
});
const seed = Number(values.seed);
const epochs = Number(values.epochs);
const chosen = /\.json$/i.test(values.model!)
  ? checkModelSpec(JSON.parse(readFileSync(values.model!, 'utf8')), values.model!)
  : getModel(values.model!);
const model = values['no-dropout']
  ? { ...chosen, name: `${chosen.name}-no-dropout`, layers: chosen.layers.filter((layer) => layer.kind !== 'dropout') }
  : chosen;
const recipe = RECIPES.get(values.model!) ?? {};
const lr = recipe.lr ?? ADAM_DEFAULTS.lr;
const schedule = recipe.schedule ?? 'constant';
const config: TrainConfig = {
  model,
  epochs,
  batchSize: 64,
  seed,
  shuffle: true,
  adam: { ...ADAM_DEFAULTS, lr },
  schedule: { name: schedule },
  ...(recipe.augment ? { augment: DEFAULT_AUGMENT } : {}),
};
const trainSplit = await loadMnist({ dir: values.data, split: 'train' });
const testSplit = await loadMnist({ dir: values.data, split: 'test' });
const initial = initialState(initParameters(new ParameterLayout(parameterSpecs(model)), seed));

// What PyTorch needs: the initial weights (our checkpoint format, which it reads) and each epoch's order.
const dir = mkdtempSync(join(tmpdir(), 'pytorch-replay-'));
await saveCheckpoint(join(dir, 'init.safetensors'), { config, state: initial, withOptimizer: false });
for (let epoch = 0; epoch < epochs; epoch++) {
  writeFileSync(join(dir, `order-${epoch}.u32`), epochOrder(trainSplit.count, seed, epoch, true));
}

const gpu = await openGpu();
const ours: number[] = [];
await train(gpu, config, trainSplit, initial, {
  testSplit,
  onEpoch: (report) => {
    ours.push(report.test!.accuracy);
  },
});
await gpu.close();

const py = spawnSync(PYTHON, [
  join(projectRoot, 'bench', 'pytorch_recipe.py'),
  ...['--replay', dir, '--epochs', String(epochs), '--data', resolveDataDir(values.data), '--seed', String(seed)],
  ...['--lr', String(lr), '--schedule', schedule, ...(recipe.augment ? ['--augment'] : [])],
], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
rmSync(dir, { recursive: true, force: true });
if (py.status !== 0) {
  console.error(`PyTorch replay failed (python3 with torch is needed: apt-get install python3-torch)`);
  process.exit(1);
}
const epochLines = py.stdout.trim().split('\n').map((line) => JSON.parse(line)).filter((e) => e.event === 'epoch');
const theirs: number[] = epochLines.map((e) => e.test_accuracy);
console.log(
  `${model.name}, seed ${seed}, lr ${lr} ${schedule}${
    recipe.augment ? ', augmented' : ''
  }, same initial weights and data order:`,
);
console.log('epoch   ours (WebGPU)   PyTorch (CPU)');
ours.forEach((a, i) =>
  console.log(
    `${String(i + 1).padStart(5)}   ${(100 * a).toFixed(2).padStart(12)}%   ${
      (100 * theirs[i]).toFixed(2).padStart(12)
    }%`,
  )
);
