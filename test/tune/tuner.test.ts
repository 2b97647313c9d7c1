// The tuner (src/tune/tuner.ts) on this device with timings the test fixes (each call 10 % faster than
// the one before, so every valid candidate beats the one before it): its choice is the same on every
// run, and on a CPU driver a training step with its configurations is bit-identical to one with the
// defaults. Candidates come in a fixed order, the default never among them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readF32 } from '../../src/gpu/buffers.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import { deviceProfile } from '../../src/gpu/profile.ts';
import { dispatchesOf, Network } from '../../src/nn/network.ts';
import { initParameters } from '../../src/nn/parameters.ts';
import { planNetwork } from '../../src/nn/planner.ts';
import { DIGIT, shapeSize } from '../../src/nn/spec.ts';
import { writeBuffer } from '../../src/gpu/buffers.ts';
import { ADAM_DEFAULTS, adamUniforms } from '../../src/kernels/adam.ts';
import { candidateTiles, tunePlan } from '../../src/tune/tuner.ts';
import { tunePlans } from '../../src/cli/tuning.ts';
import type { Gpu } from '../../src/gpu/device.ts';
import { Rng } from '../../src/util/random.ts';
import { sharedGpu } from '../helpers/gpu.ts';

const test = suite('tuner');

const OPTIONS = { training: true, maxBatch: 8 };

const fakeClock = () => {
  let calls = 0;
  return async () => 100 * 0.9 ** calls++;
};

test('tunePlans with no budget left sets no plan up (no pipelines, no primed step) and stores nothing', async () => {
  const lines: string[] = [];
  // Any use of the device would throw: with the budget spent, none may happen.
  const tuned = await tunePlans({} as Gpu, DIGIT, [{ training: true, maxBatch: 64 }], 0, (line) => lines.push(line));
  assert.equal(tuned, {});
  assert.equal(lines, [
    'tuning digit/training/64: the budget is spent; its ops keep their defaults (give tune more --seconds)',
  ]);
});

test('candidates: a fixed order, no duplicates, never the default', () => {
  const defaults = { rows: 16, columns: 10, workgroup: 8 };
  const c = candidateTiles('buffer', 'forward', defaults);
  assert.equal(c, candidateTiles('buffer', 'forward', defaults));
  assert.ok(c.length >= 5);
  assert.ok(c.every((t) => JSON.stringify(t) !== JSON.stringify(defaults)));
  assert.is(new Set(c.map((t) => JSON.stringify(t))).size, c.length);
  const tiled = candidateTiles('tiled-gemm', 'backwardWeight', {
    tileM: 16,
    tileN: 32,
    tileK: 8,
    threadM: 2,
    threadN: 4,
    splits: 16,
  });
  assert.ok(tiled.some((t) => t.splits === 64) && tiled.some((t) => t.tileM === 128));
});

test('the same timings give the same choice; on a CPU driver the tuned step trains bit for bit as the default', async () => {
  const gpu = await sharedGpu();
  // A budget that does not bind (it is wall time), on a few ops of each kind of kernel, to keep this short.
  const only = ['conv2.backwardInput', 'fc1.forward', 'fc1.backwardWeight'];
  const first = await tunePlan(gpu, DIGIT, OPTIONS, { budgetSeconds: 600, time: fakeClock(), only });
  const second = await tunePlan(gpu, DIGIT, OPTIONS, { budgetSeconds: 600, time: fakeClock(), only });
  assert.equal(first.roles.map((r) => r.op), only);
  assert.equal(first.plan.tuned, second.plan.tuned);
  if (deviceProfile(gpu).kind !== 'cpu-driver') return;
  assert.ok(Object.keys(first.plan.tuned).length > 0, 'with ever-faster timings some candidate wins');
  console.log(`  tuner test: chose ${JSON.stringify(first.plan.tuned)}`);

  const params = async (tuned: boolean) => {
    const plan = planNetwork(DIGIT, OPTIONS, deviceProfile(gpu, tuned ? first.plan.tuned : undefined));
    const network = await Network.create(gpu, DIGIT, { ...OPTIONS, plan });
    try {
      const rng = new Rng(7);
      network.setParameters(initParameters(network.layout, 7));
      network.writeBatch(
        Uint8Array.from({ length: 8 * shapeSize(DIGIT.input) }, () => rng.int(256)),
        Uint32Array.from({ length: 8 }, () => rng.int(10)),
      );
      writeBuffer(gpu, network.adamUniforms!, new Uint8Array(adamUniforms(ADAM_DEFAULTS, 1)));
      const steps = await network.plan(8);
      const partial = await network.plan(5); // a last batch smaller than the tuned one
      submitDispatches(gpu, [
        ...steps.trainingStep,
        ...dispatchesOf(partial.forward, partial.loss, partial.backward, partial.optimizer),
      ]);
      return new Uint32Array((await readF32(gpu, network.params, network.layout.totalElements)).buffer);
    } finally {
      network.destroy();
    }
  };
  const a = await params(false);
  const b = await params(true);
  const differing = a.findIndex((v, i) => v !== b[i]);
  assert.is(differing, -1, `tuned ${JSON.stringify(first.plan.tuned)}: parameter ${differing} differs after two steps`);
});

test.run();
