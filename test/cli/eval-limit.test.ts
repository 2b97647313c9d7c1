// eval --limit N: the first N images of the split, for quick checks (and the GPU run's rehearsal on a
// CPU driver); more than the split holds is refused before the GPU is opened.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveModel } from '../../src/mod.ts';
import { initParameters, ParameterLayout } from '../../src/nn/parameters.ts';
import { DIGIT, parameterSpecs } from '../../src/nn/spec.ts';
import { runCli, thisRuntime } from '../helpers/cli.ts';
import { testMnistDir } from '../helpers/mnist.ts';

const test = suite(`cli/eval --limit (${thisRuntime})`);
const dir = mkdtempSync(join(tmpdir(), 'eval-limit-'));
const env = { MNIST_DIR: testMnistDir() };

test('eval --limit 300 evaluates the first 300 test images; --limit beyond the split or 0 is a usage error', async () => {
  const checkpoint = join(dir, 'digit.safetensors');
  await saveModel(checkpoint, { model: DIGIT, params: initParameters(new ParameterLayout(parameterSpecs(DIGIT)), 1) });
  const r = await runCli(['eval', '--checkpoint', checkpoint, '--limit', '300', '--json'], { env });
  assert.is(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout.trim().split('\n')[0]);
  assert.is(report.count, 300);
  assert.is(report.confusion.flat().reduce((a: number, b: number) => a + b, 0), 300);
  const beyond = await runCli(['eval', '--checkpoint', checkpoint, '--limit', '10001'], { env });
  assert.is(beyond.code, 2, beyond.stderr);
  assert.match(beyond.stderr, /--limit 10001 is more than the 10000 images in /);
  const zero = await runCli(['eval', '--checkpoint', checkpoint, '--limit', '0'], { env });
  assert.is(zero.code, 2, zero.stderr);
  assert.match(zero.stderr, /--limit must be a decimal integer in \[1, 60000\], got "0"/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
