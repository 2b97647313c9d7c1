// Same start, same data, two engines: trains a model (`digit` by default) here and in PyTorch from the
// same initial weights on the same shuffled order (Adam 1e-3, constant), then prints both test
// accuracies per epoch. A gap beyond float noise would point at a semantic difference (init, loss
// scaling, Adam, batch norm's statistics) that kernel-level tests cannot see. Dropout draws its own
// masks on each side, so a model with dropout agrees only statistically; --no-dropout removes its
// dropout layers (both sides) for a replay of everything else.
//   node build/bench/pytorch-replay.js [--model digit|fast|best|FILE.json] [--no-dropout] [--seed 1] [--epochs 1] [--data DIR]
//   deno run -A bench/pytorch-replay.ts [same]                                   (needs python3 with torch)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { epochOrder } from '../src/data/batches.ts';
import { loadMnist, resolveDataDir } from '../src/data/mnist.ts';
import { openGpu } from '../src/gpu/device.ts';
import { ADAM_DEFAULTS } from '../src/kernels/adam.ts';
import { initParameters, ParameterLayout } from '../src/nn/parameters.ts';
import { getModel, parameterSpecs } from '../src/nn/spec.ts';
import { checkModelSpec } from '../src/nn/model-file.ts';
import { saveCheckpoint } from '../src/train/checkpoint.ts';
import { initialState, train, type TrainConfig } from '../src/train/trainer.ts';
import { runPytorchDigit } from './pytorch.ts';

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
const config: TrainConfig = { model, epochs, batchSize: 64, seed, shuffle: true, adam: ADAM_DEFAULTS };
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

const replayed = runPytorchDigit<{ test_accuracy: number[] }>([
  '--replay',
  dir,
  '--epochs',
  String(epochs),
  '--data',
  resolveDataDir(values.data),
], true);
rmSync(dir, { recursive: true, force: true });
if (!replayed.ok) {
  console.error(
    `PyTorch replay failed (python3 with torch is needed: apt-get install python3-torch): ${replayed.error}`,
  );
  process.exit(1);
}
const theirs = replayed.value.test_accuracy;
console.log(`${model.name}, seed ${seed}, same initial weights and data order:`);
console.log('epoch   ours (WebGPU)   PyTorch (CPU)');
ours.forEach((a, i) =>
  console.log(
    `${String(i + 1).padStart(5)}   ${(100 * a).toFixed(2).padStart(12)}%   ${
      (100 * theirs[i]).toFixed(2).padStart(12)
    }%`,
  )
);
