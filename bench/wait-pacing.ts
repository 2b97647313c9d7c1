// Under Node, Dawn's bindings poll with setImmediate while a GPU promise is pending, taking a core from
// lavapipe's shader threads; the training loop therefore sleeps through most of each wait (see
// Gpu.waitingPolls). This measures that choice: it trains 240 steps with paced waits and with plain
// polling waits, alternately in child processes, and prints images/s and the main thread's CPU per step.
//   node build/bench/wait-pacing.js [--rounds 3] [--data DIR]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { loadMnist } from '../src/data/mnist.ts';
import { openGpu } from '../src/gpu/device.ts';
import { ADAM_DEFAULTS } from '../src/kernels/adam.ts';
import { initParameters, ParameterLayout } from '../src/nn/parameters.ts';
import { DIGIT, parameterSpecs } from '../src/nn/spec.ts';
import { initialState, train, type TrainConfig } from '../src/train/trainer.ts';
import { mainThreadCpuMs } from './timing.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    rounds: { type: 'string', default: '3' },
    data: { type: 'string' },
    child: { type: 'boolean', default: false },
  },
});

if (values.child) {
  const split = await loadMnist({ dir: values.data, split: 'train' });
  const gpu = await openGpu();
  const config: TrainConfig = { model: DIGIT, epochs: 1, batchSize: 64, seed: 1, shuffle: true, adam: ADAM_DEFAULTS };
  let state = initialState(initParameters(new ParameterLayout(parameterSpecs(DIGIT)), 1));
  let steps = 0;
  state = (await train(gpu, config, split, state, { shouldStop: () => ++steps >= 40 })).state; // warm-up
  steps = 0;
  const cpu = mainThreadCpuMs();
  const started = performance.now();
  await train(gpu, config, split, state, { shouldStop: () => ++steps >= 240 });
  const ms = performance.now() - started;
  const cpuPerStep = cpu === undefined ? NaN : (mainThreadCpuMs()! - cpu) / steps;
  console.log(JSON.stringify({ imagesPerSecond: (steps * 64 * 1000) / ms, mainThreadMsPerStep: cpuPerStep }));
  await gpu.close();
} else {
  const self = fileURLToPath(import.meta.url);
  const prefix = 'Deno' in globalThis ? [process.execPath, 'run', '-A', self] : [process.execPath, self];
  console.log('waits      images/s   main-thread CPU per step');
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const polling of [false, true]) {
      const env = { ...process.env, ...(polling ? { WEBGPU_DIGITS_POLL_WAITS: '1' } : {}) };
      const child = spawnSync(prefix[0], [
        ...prefix.slice(1),
        '--child',
        ...(values.data ? ['--data', values.data] : []),
      ], { env, encoding: 'utf8' });
      const line = child.stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
      if (child.status !== 0 || !line) throw new Error(`child failed: ${child.stderr.trim().split('\n').at(-1)}`);
      const r = JSON.parse(line);
      console.log(
        `${polling ? 'polling' : 'paced  '}   ${r.imagesPerSecond.toFixed(0).padStart(8)}   ${
          r.mainThreadMsPerStep.toFixed(1)
        } ms`,
      );
    }
  }
}
