// Same-run A/B of the tuner's configurations against the profile's defaults: training images/s through
// the real loop and evaluation images/s over the test set, alternating default and tuned (ABAB...) so
// that this VM's drift falls on both. Tunes first when the tune cache lacks this device's entry.
//   node build/bench/tune-ab.js [--seconds 10] [--rounds 3] [--tune-cache FILE]      deno run -A bench/tune-ab.ts
import process from 'node:process';
import { parseArgs } from 'node:util';
import { loadMnist } from '../src/data/mnist.ts';
import { openGpu } from '../src/gpu/device.ts';
import { useTunedConfigs } from '../src/gpu/profile.ts';
import { ADAM_DEFAULTS } from '../src/kernels/adam.ts';
import { Network } from '../src/nn/network.ts';
import { initParameters, ParameterLayout } from '../src/nn/parameters.ts';
import { DIGIT, parameterSpecs } from '../src/nn/spec.ts';
import { evaluate } from '../src/train/evaluate.ts';
import { initialState, train, type TrainConfig } from '../src/train/trainer.ts';
import { setUpTuning } from '../src/cli/tuning.ts';
import { loadTuneCache, planKey, tuneCachePath, tuneKeyOf } from '../src/tune/cache.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    'tune-cache': { type: 'string' },
    data: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const trainSplit = await loadMnist({ dir: values.data, split: 'train' });
const testSplit = await loadMnist({ dir: values.data, split: 'test' });
const gpu = await openGpu({ timestamps: true });
const plans = [{ training: true, maxBatch: 64 }, { training: false, maxBatch: 1000 }];
const setup = await setUpTuning(gpu, {
  cache: values['tune-cache'],
  tune: true,
  model: DIGIT,
  plans,
  log: (l) => console.error(l),
});
const cached = loadTuneCache(tuneCachePath(values['tune-cache']), tuneKeyOf(gpu)).plans;
const config: TrainConfig = { model: DIGIT, epochs: 1, batchSize: 64, seed: 1, shuffle: true, adam: ADAM_DEFAULTS };
const params = initParameters(new ParameterLayout(parameterSpecs(DIGIT)), 1);

async function measure(tuned: boolean): Promise<{ train: number; eval: number }> {
  useTunedConfigs(gpu, tuned ? (model, training, maxBatch) => cached[planKey(model, training, maxBatch)]?.tuned : null);
  let steps = 0;
  await train(gpu, config, trainSplit, initialState(params), { shouldStop: () => ++steps >= 10 }); // compile, warm
  steps = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await train(gpu, config, trainSplit, initialState(params), {
    shouldStop: () => (++steps, performance.now() >= deadline),
  });
  const trainRate = (steps * 64) / ((performance.now() - started) / 1000);
  const net = await Network.create(gpu, DIGIT, { maxBatch: 1000, training: false });
  net.setParameters(params);
  await evaluate(gpu, net, testSplit);
  const evalRate = (await evaluate(gpu, net, testSplit)).imagesPerSecond;
  net.destroy();
  return { train: trainRate, eval: evalRate };
}

console.log(`tuned vs default, ${gpu.adapterName}, ${'Deno' in globalThis ? 'deno' : 'node'}; ${setup.description}`);
for (const key of plans.map((p) => planKey(DIGIT.name, p.training, p.maxBatch))) {
  console.log(`  ${key}: ${JSON.stringify(cached[key]?.tuned ?? {})}`);
}
const results = { default: [] as { train: number; eval: number }[], tuned: [] as { train: number; eval: number }[] };
for (let r = 0; r < rounds; r++) {
  for (const tuned of [false, true]) {
    const m = await measure(tuned);
    results[tuned ? 'tuned' : 'default'].push(m);
    console.log(
      `  round ${r + 1} ${tuned ? 'tuned  ' : 'default'}: training ${m.train.toFixed(0)} images/s, evaluation ${
        m.eval.toFixed(0)
      } images/s`,
    );
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const what of ['train', 'eval'] as const) {
  const d = median(results.default.map((m) => m[what]));
  const t = median(results.tuned.map((m) => m[what]));
  console.log(
    `${what === 'train' ? 'training  ' : 'evaluation'} median: default ${d.toFixed(0)}, tuned ${
      t.toFixed(0)
    } images/s (tuned/default ${(t / d).toFixed(3)})`,
  );
}
await gpu.close();
