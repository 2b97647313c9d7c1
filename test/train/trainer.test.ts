// The training loop on real MNIST images (a subset, to stay fast): determinism, bit-identical resume
// after an interruption, checkpoint round trips.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADAM_DEFAULTS } from '../../src/kernels/adam.ts';
import { initParameters, ParameterLayout } from '../../src/nn/parameters.ts';
import { DIGIT, parameterSpecs } from '../../src/nn/spec.ts';
import { loadCheckpoint, saveCheckpoint, stateFromCheckpoint } from '../../src/train/checkpoint.ts';
import { initialState, train, type TrainConfig } from '../../src/train/trainer.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import { head, testSplit } from '../helpers/mnist.ts';

const test = suite('trainer');
const config: TrainConfig = { model: DIGIT, epochs: 2, batchSize: 64, seed: 5, shuffle: true, adam: ADAM_DEFAULTS };
const layout = new ParameterLayout(parameterSpecs(DIGIT));
const dir = mkdtempSync(join(tmpdir(), 'trainer-test-'));

const sameBits = (a: Float32Array, b: Float32Array, what: string) => {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  assert.is(x.length, y.length, `${what}: length`);
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== y[i]) assert.unreachable(`${what}: element ${i} differs (${a[i]} vs ${b[i]})`);
  }
};

// 600 images: 9 full batches of 64 and a partial batch of 24 per epoch.
const data = async () => head(await testSplit('train'), 600);

test('learns: two epochs on 600 images raise accuracy well above chance', async () => {
  const gpu = await sharedGpu();
  const result = await train(gpu, config, await data(), initialState(initParameters(layout, config.seed)), {
    testSplit: head(await testSplit('test'), 300),
  });
  assert.is(result.reports.length, 2);
  assert.is(result.state.step, 20);
  const [first, second] = result.reports;
  assert.ok(second.trainLoss < first.trainLoss, `loss ${first.trainLoss} -> ${second.trainLoss}`);
  assert.ok(second.trainAccuracy > 0.6, `train accuracy ${second.trainAccuracy}`);
});

test('progress: compiled first, then a rate from the first readback on (unmeasured there), never from the pipeline fill', async () => {
  const gpu = await sharedGpu();
  const events: string[] = [];
  const progress: { batchesDone: number; imagesPerSecond: number; etaSeconds: number }[] = [];
  await train(
    gpu,
    { ...config, epochs: 1 },
    head(await testSplit('train'), 64 * 48),
    initialState(initParameters(layout, config.seed)),
    {
      onCompiled: (report) => {
        events.push('compiled');
        assert.ok(report.seconds > 0 && report.kernels >= 0);
      },
      onProgress: (p) => {
        events.push('progress');
        progress.push(p);
      },
    },
  );
  assert.is(events[0], 'compiled');
  assert.ok(progress.length >= 2, `${progress.length} progress reports`);
  assert.ok(
    Number.isNaN(progress[0].imagesPerSecond) && Number.isNaN(progress[0].etaSeconds),
    'the first readback has no rate yet',
  );
  for (const p of progress.slice(1)) assert.ok(p.imagesPerSecond > 0 && p.etaSeconds >= 0, JSON.stringify(p));
  assert.is(progress.at(-1)!.batchesDone, 48);
});

test('same seed -> bit-identical parameters; an interrupted run resumed from its checkpoint ends identical', async () => {
  const gpu = await sharedGpu();
  const split = await data();
  const fresh = () => initialState(initParameters(layout, config.seed));
  const full = await train(gpu, config, split, fresh());
  // Kernels keep a little per-device scratch (created by the first run); beyond that, every buffer a
  // run creates (network, evaluation, readbacks) must be destroyed when it ends.
  const liveBefore = gpu.memory.liveBytes;
  const again = await train(gpu, config, split, fresh());
  assert.is(gpu.memory.liveBytes, liveBefore, 'GPU bytes still allocated after a finished run');
  sameBits(full.state.params, again.state.params, 'two identical runs');

  let steps = 0;
  const interrupted = await train(gpu, config, split, fresh(), { shouldStop: () => ++steps === 13 });
  assert.ok(interrupted.stopped);
  assert.is(interrupted.state.epoch, 1, 'stopped inside the second epoch');
  assert.ok(interrupted.state.batchInEpoch > 0 && interrupted.state.batchInEpoch < 10);
  const path = join(dir, 'interrupted.safetensors');
  await saveCheckpoint(path, { config, state: interrupted.state, withOptimizer: true });
  const resumed = await train(gpu, config, split, stateFromCheckpoint(loadCheckpoint(path, { withOptimizer: true })));
  assert.not.ok(resumed.stopped);
  assert.is(resumed.state.step, full.state.step);
  sameBits(resumed.state.params, full.state.params, 'resumed vs uninterrupted parameters');
  sameBits(resumed.state.adamV, full.state.adamV, 'resumed vs uninterrupted Adam v');
  assert.is(resumed.reports[0].trainLoss, full.reports[1].trainLoss, 'resumed epoch reports the same loss');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
