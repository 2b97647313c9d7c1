// Soak run: trains `digit` for many epochs through the real training loop (test-set evaluation after
// every epoch included) and records, after each epoch, host RSS, JavaScript heap and the GPU bytes
// still allocated (gpu.memory, which counts every buffer the project creates). A leak shows as growth
// after the first epoch; the summary line gives that growth. Also a record of accuracy per epoch.
//   node build/bench/soak.js [--epochs 20] [--minutes M] [--seed 1] [--json FILE] [--out CKPT] [--data DIR]
//   deno run -A bench/soak.ts [same]
// Stops after --epochs epochs or, when --minutes is given, after the first epoch that ends past it.
import { writeFileSync } from 'node:fs';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { loadMnist } from '../src/data/mnist.ts';
import { openGpu } from '../src/gpu/device.ts';
import { ADAM_DEFAULTS } from '../src/kernels/adam.ts';
import { initParameters, ParameterLayout } from '../src/nn/parameters.ts';
import { DIGIT, parameterSpecs } from '../src/nn/spec.ts';
import { saveCheckpoint } from '../src/train/checkpoint.ts';
import { initialState, train, type TrainConfig } from '../src/train/trainer.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    epochs: { type: 'string', default: '20' },
    minutes: { type: 'string' },
    seed: { type: 'string', default: '1' },
    json: { type: 'string' },
    out: { type: 'string' },
    data: { type: 'string' },
  },
});
const epochs = Number(values.epochs);
const deadline = values.minutes === undefined ? Infinity : performance.now() + Number(values.minutes) * 60_000;
const seed = Number(values.seed);
const runtimeName = 'Deno' in globalThis ? 'deno' : 'node';
const MiB = 2 ** 20;

const trainSplit = await loadMnist({ dir: values.data, split: 'train' });
const testSplit = await loadMnist({ dir: values.data, split: 'test' });
const gpu = await openGpu();
const config: TrainConfig = { model: DIGIT, epochs, batchSize: 64, seed, shuffle: true, adam: ADAM_DEFAULTS };
const layout = new ParameterLayout(parameterSpecs(DIGIT));

interface EpochRecord {
  epoch: number;
  seconds: number;
  train_images_per_second: number;
  train_loss: number;
  test_accuracy: number;
  test_loss: number;
  rss_mib: number;
  heap_used_mib: number;
  gpu_live_mib: number;
  gpu_live_buffers: number;
}
const records: EpochRecord[] = [];
const row = (cells: (string | number)[]) => console.log(cells.map((c) => String(c).padStart(9)).join(' '));

console.log(
  `soak: digit, ${runtimeName}, ${gpu.adapterName}, up to ${epochs} epochs` +
    (values.minutes ? ` or ${values.minutes} min` : ''),
);
row(['epoch', 'seconds', 'img/s', 'test acc', 'RSS MiB', 'heap MiB', 'GPU MiB', 'buffers']);
const started = performance.now();
const result = await train(gpu, config, trainSplit, initialState(initParameters(layout, seed)), {
  testSplit,
  // Measured while the run's network and evaluation buffers exist: the steady state of a run.
  onEpoch(report) {
    const memory = process.memoryUsage();
    const record: EpochRecord = {
      epoch: report.epoch,
      seconds: report.seconds,
      train_images_per_second: report.imagesPerSecond,
      train_loss: report.trainLoss,
      test_accuracy: report.test!.accuracy,
      test_loss: report.test!.meanLoss,
      rss_mib: memory.rss / MiB,
      heap_used_mib: memory.heapUsed / MiB,
      gpu_live_mib: gpu.memory.liveBytes / MiB,
      gpu_live_buffers: gpu.memory.liveBuffers,
    };
    records.push(record);
    row([
      record.epoch,
      record.seconds.toFixed(1),
      record.train_images_per_second.toFixed(0),
      (100 * record.test_accuracy).toFixed(2) + '%',
      record.rss_mib.toFixed(1),
      record.heap_used_mib.toFixed(1),
      record.gpu_live_mib.toFixed(2),
      record.gpu_live_buffers,
    ]);
  },
  shouldStop: () => performance.now() >= deadline,
});
const minutes = (performance.now() - started) / 60_000;

// Growth after the first epoch: allocation caches and JIT settle during epoch 1.
const settled = records.slice(1);
const spread = (key: 'rss_mib' | 'gpu_live_mib' | 'heap_used_mib') =>
  settled.length ? Math.max(...settled.map((r) => r[key])) - Math.min(...settled.map((r) => r[key])) : 0;
const growth = (key: 'rss_mib' | 'gpu_live_mib' | 'heap_used_mib') =>
  settled.length ? settled.at(-1)![key] - settled[0][key] : 0;
const summary = {
  runtime: runtimeName,
  adapter: gpu.adapterName,
  seed,
  epochs: records.length,
  minutes,
  final_test_accuracy: records.at(-1)?.test_accuracy ?? null,
  rss_growth_after_epoch1_mib: growth('rss_mib'),
  rss_spread_after_epoch1_mib: spread('rss_mib'),
  heap_growth_after_epoch1_mib: growth('heap_used_mib'),
  gpu_growth_after_epoch1_mib: growth('gpu_live_mib'),
  gpu_spread_after_epoch1_mib: spread('gpu_live_mib'),
  gpu_live_after_run_mib: gpu.memory.liveBytes / MiB,
  epochs_detail: records,
};
console.log(
  `\n${records.length} epochs in ${minutes.toFixed(1)} min; after epoch 1: RSS ${
    summary.rss_growth_after_epoch1_mib >= 0 ? '+' : ''
  }` +
    `${summary.rss_growth_after_epoch1_mib.toFixed(1)} MiB (spread ${
      summary.rss_spread_after_epoch1_mib.toFixed(1)
    }), ` +
    `GPU ${summary.gpu_growth_after_epoch1_mib >= 0 ? '+' : ''}${summary.gpu_growth_after_epoch1_mib.toFixed(2)} MiB ` +
    `(spread ${summary.gpu_spread_after_epoch1_mib.toFixed(2)}); GPU bytes left after the run: ${gpu.memory.liveBytes}`,
);
if (values.json) writeFileSync(values.json, JSON.stringify(summary, null, 2) + '\n');
if (values.out) await saveCheckpoint(values.out, { config, state: result.state, withOptimizer: true });
await gpu.close();
