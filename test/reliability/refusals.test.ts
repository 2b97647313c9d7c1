// Inputs that must be refused before any training step, each with a message that names the file,
// the value and what to do, under the runtime running the tests (none of these touch the GPU, so
// each run is quick). Bad paths must never hang a command.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeIdx } from '../../src/data/idx.ts';
import { decodeSafetensors, encodeSafetensors } from '../../src/io/safetensors.ts';
import { ADAM_DEFAULTS } from '../../src/kernels/adam.ts';
import { initParameters, ParameterLayout } from '../../src/nn/parameters.ts';
import { DIGIT, parameterSpecs } from '../../src/nn/spec.ts';
import {
  optimizerPath,
  peekMetadata,
  saveCheckpoint,
  sealMetadata,
  tensorsDigest,
} from '../../src/train/checkpoint.ts';
import { initialState, type TrainConfig } from '../../src/train/trainer.ts';
import { buildPng } from '../io/png-fixtures.ts';
import { runCli, thisRuntime } from '../helpers/cli.ts';
import { testMnistDir, testSplit } from '../helpers/mnist.ts';

const test = suite(`reliability: refusals (${thisRuntime})`);
const dir = mkdtempSync(join(tmpdir(), 'refusals-'));
const env = { MNIST_DIR: testMnistDir() };
const config: TrainConfig = { model: DIGIT, epochs: 1, batchSize: 64, seed: 1, shuffle: true, adam: ADAM_DEFAULTS };
const layout = new ParameterLayout(parameterSpecs(DIGIT));
const checkpoint = join(dir, 'good.safetensors');

test.before(async () => {
  await saveCheckpoint(checkpoint, { config, state: initialState(initParameters(layout, 1)), withOptimizer: true });
});

async function refused(args: string[], code: number, ...patterns: (RegExp | string)[]) {
  const r = await runCli(args, { env, timeoutMs: 30_000 });
  assert.is(r.code, code, `${args.join(' ')}: exit ${r.code} ${r.signal}\n${r.stderr}`);
  for (const pattern of patterns) assert.match(r.stderr, pattern);
  return r;
}

for (
  const [flag, value] of [
    ['--epochs', '0x10'],
    ['--epochs', '1e1'],
    ['--epochs', ' 7'],
    ['--seed', '+3'],
    ['--limit', '64.0'],
    ['--checkpoint-every', '0b1'],
    ['--lr', '0x10'],
    ['--lr', 'Infinity'],
    ['--weight-decay', ' 1'],
  ] as const
) {
  test(`numeric flags take decimal numbers only: ${flag} ${JSON.stringify(value)} -> exit 2`, async () => {
    await refused(
      ['train', flag, value, '--out', join(dir, 'never.safetensors')],
      2,
      `${flag} must be a`,
      JSON.stringify(value),
    );
    assert.not.ok(existsSync(join(dir, 'never.safetensors')));
  });
}

test('--model toString, __proto__, constructor: unknown models, not a crash', async () => {
  for (const name of ['toString', '__proto__', 'constructor']) {
    await refused(
      ['train', '--model', name, '--out', join(dir, 'never.safetensors')],
      2,
      `Unknown model "${name}"; known models: digit`,
    );
  }
  await refused(['toString'], 2, /Unknown command "toString"/);
});

test('--out that is a directory, or in a place that cannot be written, is refused before the first step', async () => {
  await refused(
    ['train', '--out', dir, '--limit', '64'],
    2,
    `--out ${dir} is a directory; give the path of a checkpoint file`,
  );
  await refused(
    ['train', '--out', '/proc/webgpu-digits/x.safetensors', '--limit', '64'],
    1,
    /cannot write checkpoints to \/proc\/webgpu-digits\/x\.safetensors: cannot create directory \/proc\/webgpu-digits/,
  );
  await refused(
    ['train', '--out', '/sys/webgpu-digits.safetensors', '--limit', '64'],
    1,
    /cannot write checkpoints to \/sys\/webgpu-digits\.safetensors: cannot write in \/sys/,
  );
  writeFileSync(join(dir, 'a-file'), '');
  await refused(['train', '--out', join(dir, 'a-file', 'x.safetensors'), '--limit', '64'], 1, /a-file is a file/);
});

test('bad paths never hang: show --out-dir /proc/..., --data /proc/..., eval --checkpoint /dev/zero', async () => {
  await refused(
    ['show', '--index', '0', '--out-dir', '/proc/webgpu-digits'],
    1,
    /cannot create directory \/proc\/webgpu-digits/,
  );
  await refused(['show', '--data', '/proc/webgpu-digits'], 1, /\/proc\/webgpu-digits: cannot be created to download/);
  await refused(['eval', '--checkpoint', '/dev/zero'], 1, 'Checkpoint /dev/zero is a character device, not a file');
  await refused(
    ['predict', '--checkpoint', checkpoint, '/dev/zero'],
    1,
    'Image /dev/zero is a character device, not a file',
  );
});

test('train --resume with nothing to resume says so, without options train lacks or the other runtime', async () => {
  const r = await refused(
    ['train', '--resume', '--out', join(dir, 'nothing.safetensors')],
    1,
    /nothing\.safetensors does not exist\. Nothing to resume: start the run without --resume/,
  );
  assert.not.match(r.stderr, '--checkpoint');
  assert.not.match(r.stderr, thisRuntime === 'node' ? 'deno task' : 'node dist');
});

test('eval on an optimizer file says it is one', async () => {
  await refused(
    ['eval', '--checkpoint', optimizerPath(checkpoint, peekMetadata(checkpoint))],
    1,
    /is an optimizer-state file \(Adam's moments\), not a model checkpoint/,
  );
});

test('eval and predict refuse a checkpoint holding NaN or Infinity', async () => {
  const { tensors, metadata } = decodeSafetensors(Uint8Array.from(readFileSync(checkpoint)));
  (tensors.get('fc1.weight')!.data as Float32Array).fill(Number.NaN, 0, 100);
  metadata.tensors_sha256 = tensorsDigest(tensors);
  const poisoned = join(dir, 'poisoned.safetensors');
  writeFileSync(poisoned, encodeSafetensors(Object.fromEntries(tensors), sealMetadata(metadata)));
  await refused(['eval', '--checkpoint', poisoned], 1, /poisoned\.safetensors: fc1\.weight holds NaN or Infinity/);
  const png = join(dir, 'digit.png');
  writeFileSync(
    png,
    buildPng({
      width: 28,
      height: 28,
      colorType: 0,
      bitDepth: 8,
      samples: (await testSplit('test')).images.subarray(0, 784),
    }),
  );
  await refused(['predict', '--checkpoint', poisoned, png], 1, /fc1\.weight holds NaN or Infinity/);
});

test('predict names the file whose picture is blank', async () => {
  const blank = join(dir, 'blank.png');
  writeFileSync(blank, buildPng({ width: 28, height: 28, colorType: 0, bitDepth: 8, samples: new Uint8Array(784) }));
  await refused(['predict', '--checkpoint', checkpoint, blank], 1, `${blank}: the picture is blank`);
});

test('empty and too-small datasets are refused before the GPU, naming the file and the count', async () => {
  const write = (folder: string, count: number) => {
    mkdirSync(folder, { recursive: true });
    for (
      const [images, labels] of [['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'], [
        't10k-images-idx3-ubyte',
        't10k-labels-idx1-ubyte',
      ]]
    ) {
      writeFileSync(join(folder, images), encodeIdx([count, 28, 28], new Uint8Array(count * 784)));
      writeFileSync(join(folder, labels), encodeIdx([count], new Uint8Array(count)));
    }
  };
  const empty = join(dir, 'empty');
  const ten = join(dir, 'ten');
  write(empty, 0);
  write(ten, 10);
  const out = ['--out', join(dir, 'data.safetensors')];
  await refused(
    ['train', '--data', empty, '--no-verify', ...out],
    1,
    `${join(empty, 'train-images-idx3-ubyte')} holds 0 images: there is nothing to train on`,
  );
  await refused(
    ['train', '--data', ten, '--no-verify', '--limit', '11', ...out],
    2,
    `--limit 11 is more than the 10 images in ${join(ten, 'train-images-idx3-ubyte')}`,
  );
  await refused(
    ['eval', '--data', empty, '--no-verify', '--checkpoint', checkpoint],
    1,
    `${join(empty, 't10k-images-idx3-ubyte')} holds 0 images: nothing to evaluate`,
  );
  assert.not.ok(existsSync(join(dir, 'data.safetensors')));
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
