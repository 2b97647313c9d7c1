// Numerical and GPU faults: a diverging run stops with the step and layer named and never writes a
// poisoned checkpoint; an impossible batch size fails before training; a lost device is reported.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openGpu } from '../../src/gpu/device.ts';
import { ADAM_DEFAULTS } from '../../src/kernels/adam.ts';
import { initParameters, ParameterLayout } from '../../src/nn/parameters.ts';
import { DIGIT, parameterSpecs } from '../../src/nn/spec.ts';
import { optimizerPath, peekMetadata } from '../../src/train/checkpoint.ts';
import { initialState, NonFiniteLossError, train, type TrainConfig } from '../../src/train/trainer.ts';
import { runCli } from '../helpers/cli.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import { head, testMnistDir, testSplit } from '../helpers/mnist.ts';

const test = suite('reliability: faults');
const dir = mkdtempSync(join(tmpdir(), 'faults-'));
const env = { MNIST_DIR: testMnistDir() };
const layout = new ParameterLayout(parameterSpecs(DIGIT));

test('a poisoned parameter is caught: NonFiniteLossError names the step and the layer', async () => {
  const gpu = await sharedGpu();
  const config: TrainConfig = { model: DIGIT, epochs: 1, batchSize: 64, seed: 1, shuffle: true, adam: ADAM_DEFAULTS };
  const params = initParameters(layout, 1);
  params[layout.slot('fc2.bias').offset + 3] = Number.NaN;
  try {
    await train(gpu, config, head(await testSplit('train'), 640), initialState(params));
    assert.unreachable('training with a NaN weight should stop');
  } catch (err) {
    assert.instance(err, NonFiniteLossError);
    assert.match(
      (err as Error).message,
      /at step \d+ \(epoch 1, batch \d+\); first non-finite values in (parameter|gradient of) \w+\.\w+/,
    );
  }
});

test('an absurd learning rate: the CLI stops naming the step and layer, exit 1, the good checkpoint untouched', async () => {
  const out = join(dir, 'good.safetensors');
  const quick = ['train', '--epochs', '1', '--limit', '640', '--no-test', '--out', out];
  const good = await runCli(quick, { env });
  assert.is(good.code, 0, good.stderr);
  const digest = () =>
    createHash('sha256').update(readFileSync(out)).update(readFileSync(optimizerPath(out, peekMetadata(out)))).digest(
      'hex',
    );
  const before = digest();
  const diverged = await runCli([...quick, '--lr', '1e30'], { env });
  assert.is(diverged.code, 1, diverged.stderr);
  assert.match(
    diverged.stderr,
    /The loss became (NaN|Infinity|-Infinity) at step \d+ \(epoch 1, batch \d+\); first non-finite values in (parameter|gradient of) \w+\.\w+/,
  );
  assert.match(diverged.stderr, /smaller --lr/);
  assert.is(digest(), before, 'the checkpoint and its Adam state are byte for byte what the good run wrote');
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
