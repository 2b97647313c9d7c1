// Numerical and GPU faults: a diverging run stops with the step and layer named and never writes a
// poisoned checkpoint; an impossible batch size fails before training; a lost device is reported.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openGpu } from '../../src/gpu/device.ts';
import { ADAM_DEFAULTS } from '../../src/kernels/adam.ts';
import { initParameters, ParameterLayout } from '../../src/nn/parameters.ts';
import { DIGIT, parameterSpecs } from '../../src/nn/spec.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import { initialState, NonFiniteLossError, train, type TrainConfig } from '../../src/train/trainer.ts';
import { runCli } from '../helpers/cli.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import { head, testMnistDir, testSplit } from '../helpers/mnist.ts';

const test = suite('reliability: faults');
const dir = mkdtempSync(join(tmpdir(), 'faults-'));
const env = { MNIST_DIR: testMnistDir() };
const layout = new ParameterLayout(parameterSpecs(DIGIT));

test('an absurd learning rate is caught: NonFiniteLossError names the step and a layer', async () => {
  const gpu = await sharedGpu();
  const config: TrainConfig = { model: DIGIT, epochs: 3, batchSize: 64, seed: 1, shuffle: true, adam: { ...ADAM_DEFAULTS, lr: 1e6 } };
  try {
    await train(gpu, config, head(await testSplit('train'), 1280), initialState(initParameters(layout, 1)));
    assert.unreachable('training with lr 1e6 should diverge');
  } catch (err) {
    assert.instance(err, NonFiniteLossError);
    assert.match((err as Error).message, /at step \d+ \(epoch \d+, batch \d+\); first non-finite values in (parameter|gradient of) \w+\.\w+/);
  }
});

test('a diverging CLI run exits 1 and leaves no poisoned checkpoint', async () => {
  const out = join(dir, 'diverged.safetensors');
  const r = await runCli(['train', '--lr', '1e6', '--limit', '1280', '--epochs', '3', '--no-test', '--out', out], { env });
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /loss became (NaN|Infinity|-Infinity) at step/);
  if (existsSync(out)) assert.ok(loadCheckpoint(out).params.every(Number.isFinite), 'any checkpoint left is finite');
});

test('a batch size the adapter cannot hold fails before training, naming the size and the limit', async () => {
  const out = join(dir, 'huge.safetensors');
  const r = await runCli(['train', '--batch-size', '60000', '--epochs', '1', '--no-test', '--out', out], { env });
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /needs \d+ bytes but this adapter allows at most \d+ .*smaller batch size/);
  assert.not.ok(existsSync(out));
});

test('device loss mid-run is reported as such, without hanging', async () => {
  const gpu = await openGpu();
  const config: TrainConfig = { model: DIGIT, epochs: 1, batchSize: 64, seed: 1, shuffle: true, adam: ADAM_DEFAULTS };
  let steps = 0;
  try {
    await train(gpu, config, head(await testSplit('train'), 1280), initialState(initParameters(layout, 1)), {
      shouldStop: () => {
        if (++steps === 5) gpu.device.destroy();
        return false;
      },
    });
    assert.unreachable('training on a destroyed device should fail');
  } catch (err) {
    assert.match((err as Error).message, /lost|destroyed/i);
  } finally {
    await gpu.close();
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
