// Where an evaluation batch's GPU time goes, dispatch by dispatch (the bench's profile sums them per
// layer) under the plan it prints first, and evaluation throughput over the test set: median and best of `--passes`.
//   node build/bench/eval-profile.js [--batch 1000] [--passes 3] [--data DIR]
//   deno run -A bench/eval-profile.ts
import process from 'node:process';
import { parseArgs } from 'node:util';
import { loadMnist } from '../src/data/mnist.ts';
import { openGpu } from '../src/gpu/device.ts';
import { profileDispatches } from '../src/gpu/profiler.ts';
import { Network } from '../src/nn/network.ts';
import { formatPlan } from '../src/nn/planner.ts';
import { initParameters, ParameterLayout } from '../src/nn/parameters.ts';
import { DIGIT, parameterSpecs } from '../src/nn/spec.ts';
import { evaluate } from '../src/train/evaluate.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    batch: { type: 'string', default: '1000' },
    passes: { type: 'string', default: '3' },
    data: { type: 'string' },
  },
});
const batch = Number(values.batch);
const test = await loadMnist({ dir: values.data, split: 'test' });
const gpu = await openGpu({ timestamps: true });
const network = await Network.create(gpu, DIGIT, { maxBatch: batch, training: false });
network.setParameters(initParameters(new ParameterLayout(parameterSpecs(DIGIT)), 1));
console.log(formatPlan(network.executionPlan));

await evaluate(gpu, network, test); // warm-up: compiles, sets the pace
const rates: number[] = [];
for (let i = 0; i < Number(values.passes); i++) rates.push((await evaluate(gpu, network, test)).imagesPerSecond);
rates.sort((a, b) => a - b);

const plan = await network.plan(batch);
network.writeBatch(
  test.images.subarray(0, batch * network.inputSize),
  Uint32Array.from(test.labels.subarray(0, batch)),
);
const ops = [...plan.forward, ...plan.loss];
const { method, timings } = await profileDispatches(gpu, ops.flatMap((op) => op.dispatches), 5);
let index = 0;
let total = 0;
const width = Math.max(...ops.map((op) => op.name.length));
console.log(`evaluation batch of ${batch}, per dispatch (${method}):`);
for (const op of ops) {
  for (const dispatch of op.dispatches) {
    const ms = timings[index++].milliseconds;
    total += ms;
    console.log(`  ${op.name.padEnd(width)} ${ms.toFixed(2).padStart(7)} ms  ${dispatch.kernel.label.split('{')[0]}`);
  }
}
console.log(
  `  ${'total'.padEnd(width)} ${total.toFixed(2).padStart(7)} ms  (${
    Math.round(batch / total * 1000)
  } images/s if nothing else ran)`,
);
console.log(
  `evaluation of ${test.count} images: median ${Math.round(rates[Math.floor(rates.length / 2)])} images/s, best ${
    Math.round(rates.at(-1)!)
  } (passes, sorted: ${rates.map(Math.round).join(', ')})`,
);
network.destroy();
gpu.device.destroy();
