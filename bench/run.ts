// Benchmark of the `digit` network on the current runtime. First the headline: one full 60,000-image
// epoch as a user runs it (this runtime's CLI, `train --epochs 1 --no-test` then `eval`, timed from
// outside, see bench/epoch-figures.ts) beside the seed's PyTorch program over the same epoch. Then the
// secondary figures: pipeline compile time, a steady-state training window, evaluation throughput,
// per-op profile, host overhead, memory, and the tutorial network in PyTorch over the same window.
// Prints tables and writes JSON.
// --tune runs the tuner first where the tune cache lacks this device's entry (src/cli/tuning.ts); the
// plans use the cache's configurations either way, and the output says which. --device-class (or
// $WEBGPU_DIGITS_DEVICE_CLASS) plans for another class of device, as train and eval do. On a CPU driver
// the GPU-class kernels' speed follows as a sanity figure (bench/gpu-class.ts; --no-gpu-class skips it).
//   node build/bench/run.js [--seconds 20] [--json FILE] [--no-torch] [--no-epoch] [--tune] [--tune-cache FILE]
//                           [--device-class CLASS] [--no-gpu-class] [--eval-images N]
//   (npm run bench)      deno task bench
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { firstImages, loadMnist, resolveDataDir } from '../src/data/mnist.ts';
import { openGpu } from '../src/gpu/device.ts';
import { ADAM_DEFAULTS } from '../src/kernels/adam.ts';
import { matmul } from '../src/kernels/matmul.ts';
import { matmulTexture } from '../src/kernels/matmul_texture.ts';
import { createPackedMatrix, packMatrix } from '../src/kernels/layout.ts';
import { submitDispatches } from '../src/gpu/kernel.ts';
import { Network } from '../src/nn/network.ts';
import { initParameters, ParameterLayout } from '../src/nn/parameters.ts';
import { DIGIT, parameterSpecs } from '../src/nn/spec.ts';
import { evaluate } from '../src/train/evaluate.ts';
import { formatProfile, profileOps, profileTrainingStep } from '../src/train/profile.ts';
import { initialState, train, type TrainConfig } from '../src/train/trainer.ts';
import { Rng } from '../src/util/random.ts';
import { setUpTuning } from '../src/cli/tuning.ts';
import { hasTorch, runPytorchDigit } from './pytorch.ts';
import { type EpochFigures, measureEpoch, torchDataRoot, torchEpoch } from './epoch-figures.ts';
import { measureGpuClass } from './gpu-class.ts';
import { deviceClassOption } from '../src/cli/common.ts';
import { mainThreadCpuMs, randomBuffer, timeDispatches, workerCpuMs } from './timing.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    seconds: { type: 'string', default: '20' },
    'batch-size': { type: 'string', default: '64' },
    json: { type: 'string' },
    'no-torch': { type: 'boolean', default: false },
    'no-epoch': { type: 'boolean', default: false },
    data: { type: 'string' },
    tune: { type: 'boolean', default: false },
    'tune-cache': { type: 'string' },
    'device-class': { type: 'string' },
    'no-gpu-class': { type: 'boolean', default: false },
    'eval-images': { type: 'string' },
  },
});
const deviceClass = deviceClassOption(values['device-class']);
const seconds = Number(values.seconds);
const batchSize = Number(values['batch-size']);
const runtimeName = 'Deno' in globalThis ? 'deno' : 'node';
const benchStarted = performance.now();

// 0. The headline: the epoch a user runs, through the CLI in a child process (before this process
// opens a device, so nothing else competes for the cores), and the seed's PyTorch program's epoch.
let epoch: { figures: EpochFigures; torch: { train: number; eval: number } | null } | null = null;
if (!values['no-epoch']) {
  const scratch = mkdtempSync(join(tmpdir(), 'bench-epoch-'));
  try {
    const dataDir = resolveDataDir(values.data);
    console.error(`timing one full epoch through ${runtimeName}'s CLI...`);
    const figures = await measureEpoch(
      runtimeName,
      dataDir,
      scratch,
      0,
      deviceClass ? ['--device-class', deviceClass] : [],
    );
    const torchPeer = !values['no-torch'] && hasTorch()
      ? (console.error("and the seed's PyTorch program..."), torchEpoch(torchDataRoot(dataDir, scratch)))
      : null;
    epoch = { figures, torch: torchPeer };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

let peakRss = 0;
const sampleRss = () => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
};
const rssTimer = setInterval(sampleRss, 250);

const trainSplit = await loadMnist({ dir: values.data, split: 'train' });
// --eval-images N: the first N test images only (bench/gpu-run.sh's rehearsal on a CPU driver).
const fullTestSplit = await loadMnist({ dir: values.data, split: 'test' });
const testSplit = values['eval-images'] === undefined
  ? fullTestSplit
  : firstImages(fullTestSplit, Math.min(fullTestSplit.count, Number(values['eval-images'])));
const gpu = await openGpu({ timestamps: true, ...(deviceClass ? { deviceClass } : {}) });
const config: TrainConfig = { model: DIGIT, epochs: 1, batchSize, seed: 1, shuffle: true, adam: ADAM_DEFAULTS };
const tuning = await setUpTuning(gpu, {
  cache: values['tune-cache'],
  tune: values.tune,
  model: DIGIT,
  plans: [{ training: true, maxBatch: batchSize }, { training: false, maxBatch: 1000 }],
  log: (line) => console.error(line),
});

// Submissions and uploads, counted where the queue is called (bench-only instrumentation).
const queueCalls = { submits: 0, writes: 0 };
{
  const queue = gpu.device.queue;
  const submit = queue.submit.bind(queue);
  const write = queue.writeBuffer.bind(queue);
  queue.submit = (buffers) => {
    queueCalls.submits++;
    return submit(buffers);
  };
  queue.writeBuffer = ((...args: Parameters<GPUQueue['writeBuffer']>) => {
    queueCalls.writes++;
    return write(...args);
  }) as GPUQueue['writeBuffer'];
}
const layout = new ParameterLayout(parameterSpecs(DIGIT));

// 1. Pipeline compile time: every kernel of a training plan and an evaluation plan, on a fresh device.
let started = performance.now();
const trainNet = await Network.create(gpu, DIGIT, { maxBatch: batchSize, training: true });
await trainNet.plan(batchSize);
const evalNet = await Network.create(gpu, DIGIT, { maxBatch: 1000, training: false });
await evalNet.plan(1000);
await gpu.device.queue.onSubmittedWorkDone();
const compileSeconds = (performance.now() - started) / 1000;
// Each figure also goes to stderr as it is measured: a run cut short (a device run's time limit) keeps what it measured.
const stage = (text: string) => console.error(`[${((performance.now() - benchStarted) / 1000).toFixed(0)} s] ${text}`);
stage(`${gpu.deviceClass} class: pipelines compiled in ${compileSeconds.toFixed(2)} s`);
const gpuBytes = trainNet.bytesAllocated + evalNet.bytesAllocated;

// The ceiling: the best rate of our matmul kernels (default tiles) on this adapter: the buffer kernel
// over a square 512³ product and fc1's forward at batch 1000 (the largest product the network makes),
// and the texture kernel that forward-only networks run fc1 with, on that same product.
const rng = new Rng(1);
const ceilingShapes = [
  { name: '512x512x512', shape: { m: 512, n: 512, k: 512 } },
  { name: '1000x500x2000 Bᵀ', shape: { m: 1000, n: 500, k: 2000, transposeB: true } },
];
let matmulCeiling = { gflops: 0, shape: '' };
for (const { name, shape } of ceilingShapes) {
  const a = randomBuffer(gpu, 'ceiling.a', shape.m * shape.k, rng);
  const b = randomBuffer(gpu, 'ceiling.b', shape.k * shape.n, rng);
  const c = randomBuffer(gpu, 'ceiling.c', shape.m * shape.n, rng);
  const { wallMs } = await timeDispatches(gpu, await matmul(gpu, shape, {}, a, b, c), 8, 2);
  const gflops = (2 * shape.m * shape.n * shape.k) / wallMs / 1e6;
  if (gflops > matmulCeiling.gflops) matmulCeiling = { gflops, shape: name };
  for (const buffer of [a, b, c]) buffer.destroy();
}
{
  const [m, n, k] = [1000, 500, 2000];
  const a = randomBuffer(gpu, 'ceiling.a', m * k, rng);
  const b = randomBuffer(gpu, 'ceiling.b', n * k, rng);
  const bias = randomBuffer(gpu, 'ceiling.bias', n, rng);
  const c = randomBuffer(gpu, 'ceiling.c', m * n, rng);
  const packedA = createPackedMatrix(gpu, 'ceiling.a.packed', m, k);
  const packedB = createPackedMatrix(gpu, 'ceiling.b.packed', n, k);
  submitDispatches(gpu, [
    await packMatrix(gpu, { rows: m, k }, a, packedA),
    await packMatrix(gpu, { rows: n, k }, b, packedB),
  ]);
  const { wallMs } = await timeDispatches(
    gpu,
    await matmulTexture(gpu, { m, n, k }, { bias }, packedA, packedB, c),
    8,
    2,
  );
  const gflops = (2 * m * n * k) / wallMs / 1e6;
  if (gflops > matmulCeiling.gflops) matmulCeiling = { gflops, shape: `${m}x${n}x${k} Bᵀ from textures` };
  for (const buffer of [a, b, bias, c]) buffer.destroy();
  for (const packed of [packedA, packedB]) packed.texture.destroy();
}
const standaloneMatmulGflops = matmulCeiling.gflops;
stage(`matmul ceiling (timed alone): ${standaloneMatmulGflops.toFixed(1)} GFLOP/s (${matmulCeiling.shape})`);

// 2. Training throughput: warm up, then train for `seconds` through the real training loop.
let state = initialState(initParameters(layout, 1));
let steps = 0;
state = (await train(gpu, config, trainSplit, state, { shouldStop: () => ++steps >= 20 })).state;
steps = 0;
const hostCpuStart = mainThreadCpuMs();
const workerCpuStart = workerCpuMs();
started = performance.now();
const deadline = started + seconds * 1000;
const callsBefore = { ...queueCalls };
const measured = await train(gpu, config, trainSplit, state, {
  shouldStop: () => (++steps, performance.now() >= deadline),
});
const trainSeconds = (performance.now() - started) / 1000;
// Per step: every dispatch of the recorded step; submissions and uploads as the loop made them (the stats readback's included).
const dispatchesPerStep = (await trainNet.plan(batchSize)).trainingStep.length;
const submitsPerStep = (queueCalls.submits - callsBefore.submits) / steps;
const writesPerStep = (queueCalls.writes - callsBefore.writes) / steps;
const hostCpuEnd = mainThreadCpuMs();
const workerCpuEnd = workerCpuMs();
const trainImagesPerSecond = (steps * batchSize) / trainSeconds;
const stepMs = (1000 * trainSeconds) / steps;
stage(
  `training: ${trainImagesPerSecond.toFixed(0)} images/s (${stepMs.toFixed(1)} ms/step over ${
    trainSeconds.toFixed(1)
  } s)`,
);
// Host work per step: CPU time of the main thread (batch gathering, uploads, encoding, submission, readback).
const hostCpuMsPerStep = hostCpuStart === undefined || hostCpuEnd === undefined
  ? null
  : (hostCpuEnd - hostCpuStart) / steps;
// How busy the driver's shader threads were in that same window (the GPU, on lavapipe), as a share of
// all cores: unlike the profile below, measured while training, so the VM's drift cancels out.
const cores = availableParallelism();
const gpuBusyShare = workerCpuStart === undefined || workerCpuEnd === undefined
  ? null
  : (workerCpuEnd - workerCpuStart) / (cores * 1000 * trainSeconds);

// Per-op profile of one training step (timestamp queries when available), once everything is warm.
const profile = await profileTrainingStep(gpu, config, trainSplit, initialState(initParameters(layout, 1)), 9);
const hostShare = Math.max(0, 1 - profile.totalMilliseconds / stepMs);
if (profile.totalMilliseconds > 1.1 * stepMs) {
  console.error(
    `note: the profiled kernels (${profile.totalMilliseconds.toFixed(1)} ms) took longer than a measured step ` +
      `(${stepMs.toFixed(1)} ms): something else used the CPU meanwhile; rerun for a clean profile`,
  );
}
const stepGflops = profile.totalFlops / stepMs / 1e6;
stage(`kernel time per step: ${profile.totalMilliseconds.toFixed(1)} ms (${profile.method})`);
// Timed alone, a product pays each submission's fixed cost, so inside the step (timestamp queries) the
// fc1 products can run faster than standalone: the ceiling is the best rate seen either way.
const bestOp = profile.ops.reduce((best, op) => (op.gflops > best.gflops ? op : best));
if (bestOp.gflops > matmulCeiling.gflops) {
  matmulCeiling = { gflops: bestOp.gflops, shape: `${bestOp.name}, inside the step` };
}
const matmulCeilingGflops = matmulCeiling.gflops;

// 3. Evaluation throughput over the 10,000 test images: after a warm-up, the median and best of three
// passes (this VM's speed drifts), and a per-op profile of one batch of 1000.
evalNet.setParameters(measured.state.params);
await evaluate(gpu, evalNet, testSplit); // warm-up
const evalRates: number[] = [];
const evalCallsBefore = { ...queueCalls };
for (let i = 0; i < 3; i++) evalRates.push((await evaluate(gpu, evalNet, testSplit)).imagesPerSecond);
const evalSubmits = (queueCalls.submits - evalCallsBefore.submits) / 3;
const evalDispatches = (await evalNet.plan(1000)).evaluationStep.length * Math.ceil(testSplit.count / 1000);
evalRates.sort((x, y) => x - y);
stage(`evaluation: ${evalRates[1].toFixed(0)} images/s (median of 3 passes over ${testSplit.count} images)`);
const evalPlan = await evalNet.plan(1000);
evalNet.writeBatch(
  testSplit.images.subarray(0, 1000 * evalNet.inputSize),
  Uint32Array.from(testSplit.labels.subarray(0, 1000)),
);
const evalProfile = await profileOps(gpu, [...evalPlan.forward, ...evalPlan.loss], 5);
sampleRss();

// 4. On a CPU driver, the GPU-class kernels over a shorter window (a quarter of it, at least 5 s).
const gpuClass = gpu.deviceClass === 'cpu-driver' && !values['no-gpu-class']
  ? (console.error('timing the GPU-class kernels on this CPU driver (a sanity figure)...'),
    await measureGpuClass({}, trainSplit, testSplit, { seconds: Math.max(5, seconds / 4), batchSize }))
  : null;
sampleRss();

// 5. Optional PyTorch peer, same network, same batch size, CPU threads = cores.
interface PeerResult {
  images_per_second: number;
  threads: number;
  version: string;
}
let torch: PeerResult | null = null;
if (!values['no-torch']) {
  const peer = runPytorchDigit<PeerResult>([
    '--seconds',
    String(seconds),
    '--batch-size',
    String(batchSize),
    ...(values.data ? ['--data', values.data] : []),
  ]);
  if (peer.ok) torch = peer.value;
  else console.error(`PyTorch peer skipped: ${peer.error}`);
}
clearInterval(rssTimer);

const result = {
  runtime: runtimeName,
  adapter: gpu.adapterName,
  device_class: gpu.deviceClass,
  batch_size: batchSize,
  tile_configurations: tuning.description,
  dispatches_per_step: dispatchesPerStep,
  submissions_per_step: submitsPerStep,
  uploads_per_step: writesPerStep,
  eval_submissions_per_pass: evalSubmits,
  eval_dispatches_per_pass: evalDispatches,
  epoch: epoch &&
    {
      ...epoch.figures,
      pytorch: epoch.torch,
      ratio_vs_pytorch: epoch.torch ? epoch.figures.reported / epoch.torch.train : null,
      eval_ratio_vs_pytorch: epoch.torch ? epoch.figures.eval / epoch.torch.eval : null,
    },
  pipeline_compile_seconds: compileSeconds,
  train_images_per_second: trainImagesPerSecond,
  train_step_ms: stepMs,
  train_measured_seconds: trainSeconds,
  kernel_ms_per_step: profile.totalMilliseconds,
  host_share_of_step: hostShare,
  host_cpu_ms_per_step: hostCpuMsPerStep,
  host_cpu_share_of_step: hostCpuMsPerStep === null ? null : hostCpuMsPerStep / stepMs,
  other_threads_busy_share: gpuBusyShare,
  eval_images_per_second: evalRates[1],
  eval_images_per_second_best: evalRates[2],
  eval_profile: evalProfile,
  matmul_ceiling_gflops: matmulCeilingGflops,
  matmul_standalone_gflops: standaloneMatmulGflops,
  matmul_ceiling_shape: matmulCeiling.shape,
  step_gflops: stepGflops,
  step_fraction_of_matmul_ceiling: stepGflops / matmulCeilingGflops,
  peak_rss_bytes: peakRss,
  gpu_buffer_bytes: gpuBytes,
  profile,
  gpu_class_on_cpu_driver: gpuClass,
  pytorch: torch,
  ratio_vs_pytorch: torch ? trainImagesPerSecond / torch.images_per_second : null,
};

const row = (name: string, value: string) => console.log(`  ${name.padEnd(34)} ${value}`);
if (epoch) {
  const { figures: f, torch: peer } = epoch;
  const vs = (
    ours: number,
    theirs: number | undefined,
  ) => (theirs ? ` (${(ours / theirs).toFixed(2)}x PyTorch's ${theirs.toFixed(0)})` : '');
  console.log(`\ndigit, one full 60,000-image epoch as a user runs it (${runtimeName} CLI), ${gpu.adapterName}`);
  row(
    'epoch (what train reports)',
    `${f.reported.toFixed(0)} images/s${vs(f.reported, peer?.train)}, ${f.wall.toFixed(1)} s wall`,
  );
  row('  start-up (to kernels compiled)', `${f.startup.toFixed(1)} s`);
  row('  ramp (to the steady rate)', `${f.ramp.toFixed(1)} s`);
  row('  steady rate (25-90 % of the epoch)', `${f.steady.toFixed(0)} images/s`);
  row('  tail (last batch to exit)', `${f.tail.toFixed(1)} s (final readback, checkpoint write, teardown)`);
  row('eval of the 10,000 test images', `${f.eval.toFixed(0)} images/s${vs(f.eval, peer?.eval)}`);
  if (!peer) row('PyTorch peer', 'not run (--no-torch, or no torch for /usr/bin/python3)');
}
console.log(
  `\ndigit benchmark (secondary: a ${seconds}-second steady-state window), ${runtimeName}, ${gpu.adapterName}, batch ${batchSize}`,
);
row('tile configurations', tuning.description);
row('pipeline compile (all kernels)', `${compileSeconds.toFixed(2)} s`);
row(
  'per training step',
  `${dispatchesPerStep} dispatches, ${submitsPerStep.toFixed(2)} submissions, ${writesPerStep.toFixed(2)} uploads ` +
    '(queue.writeBuffer: batch, labels, Adam step scalars)',
);
row(
  'per evaluation of the test set',
  `${evalDispatches} dispatches in ${evalSubmits.toFixed(0)} submission${
    evalSubmits === 1 ? '' : 's'
  } (batches of 1000, images staged on the GPU)`,
);
row(
  'training throughput',
  `${trainImagesPerSecond.toFixed(0)} images/s (${stepMs.toFixed(1)} ms/step over ${trainSeconds.toFixed(1)} s)`,
);
row(
  'kernel time per step (profiled)',
  `${profile.totalMilliseconds.toFixed(1)} ms (outside kernels ~${(100 * hostShare).toFixed(1)}% of a step)`,
);
if (hostCpuMsPerStep !== null) {
  row(
    'host CPU per step (main thread)',
    `${hostCpuMsPerStep.toFixed(2)} ms (${(100 * hostCpuMsPerStep / stepMs).toFixed(1)}% of a step)`,
  );
}
if (gpuBusyShare !== null) {
  row(
    'other threads busy (the GPU)',
    `${(100 * gpuBusyShare).toFixed(1)}% of ${cores} cores while training (driver and runtime threads)`,
  );
}
row(
  'evaluation throughput',
  `${evalRates[1].toFixed(0)} images/s (median of 3 passes over ${testSplit.count} images; best ${
    evalRates[2].toFixed(0)
  })`,
);
if (gpuClass) {
  // Beside the figures above, on the same CPU driver: how far below them lavapipe runs the GPU's kernels.
  const times = (x: number, of: number) => `${(x / of).toFixed(2)}x the ${gpu.deviceClass} class's`;
  row(
    'GPU-class kernels here: training',
    `${gpuClass.train_images_per_second.toFixed(0)} images/s (${
      times(gpuClass.train_images_per_second, trainImagesPerSecond)
    }; ` +
      `${gpuClass.train_step_ms.toFixed(1)} ms/step over ${gpuClass.train_measured_seconds.toFixed(1)} s) ` +
      '(a sanity figure, not a GPU figure)',
  );
  row(
    'GPU-class kernels here: evaluation',
    `${gpuClass.eval_images_per_second.toFixed(0)} images/s (${times(gpuClass.eval_images_per_second, evalRates[1])})`,
  );
  row(
    'GPU-class kernels here: slowest ops',
    gpuClass.slowest_ops.map((op) => `${op.name} ${op.milliseconds.toFixed(1)} ms`).join(', ') +
      ` (of ${gpuClass.kernel_ms_per_step.toFixed(1)} ms per step)`,
  );
}
row(
  'matmul ceiling (best of our kernel)',
  `${matmulCeilingGflops.toFixed(1)} GFLOP/s (${matmulCeiling.shape}; ` +
    `${standaloneMatmulGflops.toFixed(1)} timed alone)`,
);
row(
  'training step arithmetic rate',
  `${stepGflops.toFixed(1)} GFLOP/s (${(100 * stepGflops / matmulCeilingGflops).toFixed(0)}% of that ceiling)`,
);
row('peak host RSS', `${(peakRss / 2 ** 20).toFixed(0)} MiB`);
row('GPU buffers allocated', `${(gpuBytes / 2 ** 20).toFixed(1)} MiB`);
if (torch) {
  row(`PyTorch ${torch.version} CPU (${torch.threads} threads)`, `${torch.images_per_second.toFixed(0)} images/s`);
  row('ours / PyTorch', `${result.ratio_vs_pytorch!.toFixed(2)}x`);
}
console.log(`\ntraining step, ${formatProfile(profile)}`);
console.log(`\nevaluation batch of 1000, ${formatProfile(evalProfile)}`);
if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 2) + '\n');

trainNet.destroy();
evalNet.destroy();
await gpu.close();
