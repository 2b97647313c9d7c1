// Benchmark of the `digit` network on the current runtime: pipeline compile time, steady-state
// training throughput, evaluation throughput, per-op profile, host overhead, memory; optionally the
// same network in PyTorch on the CPU for comparison. Prints a table and writes JSON.
//   node build/bench/run.js [--seconds 20] [--json FILE] [--no-torch]      deno task bench
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { loadMnist } from '../src/data/mnist.ts';
import { openGpu } from '../src/gpu/device.ts';
import { ADAM_DEFAULTS } from '../src/kernels/adam.ts';
import { matmul } from '../src/kernels/matmul.ts';
import { Network } from '../src/nn/network.ts';
import { initParameters, ParameterLayout } from '../src/nn/parameters.ts';
import { DIGIT, parameterSpecs } from '../src/nn/spec.ts';
import { evaluate } from '../src/train/evaluate.ts';
import { formatProfile, profileTrainingStep } from '../src/train/profile.ts';
import { initialState, train, type TrainConfig } from '../src/train/trainer.ts';
import { Rng } from '../src/util/random.ts';
import { randomBuffer, timeDispatches } from './timing.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    seconds: { type: 'string', default: '20' },
    'batch-size': { type: 'string', default: '64' },
    json: { type: 'string' },
    'no-torch': { type: 'boolean', default: false },
    data: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const batchSize = Number(values['batch-size']);
const runtimeName = 'Deno' in globalThis ? 'deno' : 'node';

let peakRss = 0;
const sampleRss = () => { peakRss = Math.max(peakRss, process.memoryUsage().rss); };
const rssTimer = setInterval(sampleRss, 250);

const trainSplit = await loadMnist({ dir: values.data, split: 'train' });
const testSplit = await loadMnist({ dir: values.data, split: 'test' });
const gpu = await openGpu({ timestamps: true });
const config: TrainConfig = { model: DIGIT, epochs: 1, batchSize, seed: 1, shuffle: true, adam: ADAM_DEFAULTS };
const layout = new ParameterLayout(parameterSpecs(DIGIT));

// 1. Pipeline compile time: every kernel of a training plan and an evaluation plan, on a fresh device.
let started = performance.now();
const trainNet = await Network.create(gpu, DIGIT, { maxBatch: batchSize, training: true });
await trainNet.plan(batchSize);
const evalNet = await Network.create(gpu, DIGIT, { maxBatch: 1000, training: false });
await evalNet.plan(1000);
await gpu.device.queue.onSubmittedWorkDone();
const compileSeconds = (performance.now() - started) / 1000;
const gpuBytes = trainNet.bytesAllocated + evalNet.bytesAllocated;

// 2. Per-op profile of one training step (timestamp queries when available).
const profile = await profileTrainingStep(gpu, config, trainSplit, initialState(initParameters(layout, 1)));

// The ceiling: the best rate of our matmul (default tiles) on a square 512³ product, on this adapter.
const rng = new Rng(1);
const square = { m: 512, n: 512, k: 512 };
const [sa, sb, sc] = ['a', 'b', 'c'].map((name) => randomBuffer(gpu, `ceiling.${name}`, 512 * 512, rng));
const squareTiming = await timeDispatches(gpu, await matmul(gpu, square, {}, sa, sb, sc));
const matmulCeilingGflops = (2 * 512 ** 3) / squareTiming.wallMs / 1e6;
for (const buffer of [sa, sb, sc]) buffer.destroy();

// 3. Training throughput: warm up, then train for `seconds` through the real training loop.
let state = initialState(initParameters(layout, 1));
let steps = 0;
state = (await train(gpu, config, trainSplit, state, { shouldStop: () => ++steps >= 20 })).state;
steps = 0;
started = performance.now();
const deadline = started + seconds * 1000;
const measured = await train(gpu, config, trainSplit, state, { shouldStop: () => (++steps, performance.now() >= deadline) });
const trainSeconds = (performance.now() - started) / 1000;
const trainImagesPerSecond = (steps * batchSize) / trainSeconds;
const stepMs = (1000 * trainSeconds) / steps;
const hostShare = Math.max(0, 1 - profile.totalMilliseconds / stepMs);
const stepGflops = profile.totalFlops / stepMs / 1e6;

// 4. Evaluation throughput over the 10,000 test images.
evalNet.setParameters(measured.state.params);
await evaluate(gpu, evalNet, testSplit); // warm-up
const evaluation = await evaluate(gpu, evalNet, testSplit);
sampleRss();

// 5. Optional PyTorch peer, same network, same batch size, CPU threads = cores.
let torch: { images_per_second: number; threads: number; version: string } | null = null;
if (!values['no-torch']) {
  let root = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(root, 'package.json'))) root = dirname(root);
  // Debian's python3-torch lives in the system Python, which a pyenv or venv python3 may not see.
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const py = spawnSync(python, [join(root, 'bench', 'pytorch_digit.py'), '--seconds', String(seconds),
    '--batch-size', String(batchSize), ...(values.data ? ['--data', values.data] : [])], { encoding: 'utf8' });
  if (py.status === 0) torch = JSON.parse(py.stdout.trim().split('\n').at(-1)!);
  else console.error(`PyTorch peer skipped: ${(py.stderr || py.error?.message || 'python3 not found').trim().split('\n').at(-1)}`);
}
clearInterval(rssTimer);

const result = {
  runtime: runtimeName,
  adapter: gpu.adapterName,
  batch_size: batchSize,
  pipeline_compile_seconds: compileSeconds,
  train_images_per_second: trainImagesPerSecond,
  train_step_ms: stepMs,
  train_measured_seconds: trainSeconds,
  kernel_ms_per_step: profile.totalMilliseconds,
  host_share_of_step: hostShare,
  eval_images_per_second: evaluation.imagesPerSecond,
  matmul_512_gflops: matmulCeilingGflops,
  step_gflops: stepGflops,
  step_fraction_of_matmul_ceiling: stepGflops / matmulCeilingGflops,
  peak_rss_bytes: peakRss,
  gpu_buffer_bytes: gpuBytes,
  profile,
  pytorch: torch,
  ratio_vs_pytorch: torch ? trainImagesPerSecond / torch.images_per_second : null,
};

const row = (name: string, value: string) => console.log(`  ${name.padEnd(34)} ${value}`);
console.log(`\ndigit benchmark, ${runtimeName}, ${gpu.adapterName}, batch ${batchSize}`);
row('pipeline compile (all kernels)', `${compileSeconds.toFixed(2)} s`);
row('training throughput', `${trainImagesPerSecond.toFixed(0)} images/s (${stepMs.toFixed(1)} ms/step over ${trainSeconds.toFixed(1)} s)`);
row('kernel time per step (profiled)', `${profile.totalMilliseconds.toFixed(1)} ms (host + gaps ~${(100 * hostShare).toFixed(1)}% of a step)`);
row('evaluation throughput', `${evaluation.imagesPerSecond.toFixed(0)} images/s`);
row('matmul ceiling (512³, our kernel)', `${matmulCeilingGflops.toFixed(1)} GFLOP/s`);
row('training step arithmetic rate', `${stepGflops.toFixed(1)} GFLOP/s (${(100 * stepGflops / matmulCeilingGflops).toFixed(0)}% of that ceiling)`);
row('peak host RSS', `${(peakRss / 2 ** 20).toFixed(0)} MiB`);
row('GPU buffers allocated', `${(gpuBytes / 2 ** 20).toFixed(1)} MiB`);
if (torch) {
  row(`PyTorch ${torch.version} CPU (${torch.threads} threads)`, `${torch.images_per_second.toFixed(0)} images/s`);
  row('ours / PyTorch', `${result.ratio_vs_pytorch!.toFixed(2)}x`);
}
console.log(`\n${formatProfile(profile)}`);
if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 2) + '\n');

trainNet.destroy();
evalNet.destroy();
await gpu.close();
