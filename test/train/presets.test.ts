// The fast preset through the real CLI: one epoch on 6,400 images must already reach a meaningful test
// accuracy (the full-epoch figure is in bench/RESULTS.md); a run with batch norm, dropout, augmentation,
// a step schedule, AdamW and label smoothing resumes bit-identically (running statistics included); a
// --model file is checked before anything runs.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint, peekMetadata } from '../../src/train/checkpoint.ts';
import { FAST } from '../../src/nn/spec.ts';
import { runCli, thisRuntime } from '../helpers/cli.ts';
import { testMnistDir } from '../helpers/mnist.ts';

const test = suite(`presets and training options (${thisRuntime})`);
const dir = mkdtempSync(join(tmpdir(), 'presets-'));
const env = { MNIST_DIR: testMnistDir() };
// Under the full suite on 2 shared cores one run can take minutes: more than runCli's default 2.
const timeoutMs = 600_000;

test('fast: its recipe (one epoch, one-cycle, lr 0.005) on 6,400 images reaches >= 95 % test accuracy', async () => {
  const out = join(dir, 'fast.safetensors');
  const r = await runCli(['train', '--model', 'fast', '--limit', '6400', '--json', '--out', out], { env, timeoutMs });
  assert.is(r.code, 0, r.stderr);
  const events = r.stdout.trim().split('\n').map((line) => JSON.parse(line));
  const start = events.find((e) => e.event === 'start');
  assert.equal({ epochs: start.epochs, lr: start.lr, recipe: start.recipe }, {
    epochs: 1,
    lr: 0.005,
    recipe: ['--epochs 1', '--lr 0.005', '--schedule onecycle'],
  });
  const done = events.at(-1);
  assert.ok(done.test_accuracy >= 0.95, `test accuracy ${done.test_accuracy}`);
  const { params } = loadCheckpoint(out);
  assert.ok(params.length > 0);
  assert.is(JSON.parse(peekMetadata(out)!.training!).schedule.name, 'onecycle');
});

test("a preset's recipe gives way to the command line: best without augmentation, at another rate", async () => {
  const run = async (extra: string[]) => {
    const out = join(dir, `best-${extra.length}.safetensors`);
    const r = await runCli(
      ['train', '--model', 'best', '--limit', '64', '--no-test', '--json', '--out', out, ...extra],
      { env, timeoutMs },
    );
    assert.is(r.code, 0, r.stderr);
    const start = JSON.parse(r.stdout.split('\n')[0]);
    return { start, training: JSON.parse(peekMetadata(out)!.training!) };
  };
  const recipe = await run(['--epochs', '1']);
  assert.equal(recipe.start.recipe, ['--lr 0.003', '--schedule onecycle', '--augment']);
  assert.ok(recipe.training.augment, 'best augments by default');
  const own = await run(['--epochs', '1', '--no-augment', '--lr', '0.002', '--schedule', 'cosine']);
  assert.equal(own.start.recipe, []);
  assert.is(own.start.lr, 0.002);
  assert.is(own.training.augment, undefined, '--no-augment wins');
  assert.is(own.training.schedule.name, 'cosine');
});

test('batch norm + dropout + augmentation + step schedule + AdamW + label smoothing resume bit-identically', async () => {
  const options = [
    '--model',
    'fast',
    '--limit',
    '320',
    '--no-test',
    '--augment',
    '--schedule',
    'step',
    '--gamma',
    '0.5',
    '--adamw',
    '--weight-decay',
    '0.01',
    '--label-smoothing',
    '0.1',
  ];
  const straight = join(dir, 'straight.safetensors');
  const split = join(dir, 'split.safetensors');
  for (
    const args of [['--epochs', '2', '--out', straight], ['--epochs', '1', '--out', split], [
      '--epochs',
      '2',
      '--out',
      split,
      '--resume',
    ]]
  ) {
    const r = await runCli(['train', ...options, ...args], { env, timeoutMs });
    assert.is(r.code, 0, r.stderr);
  }
  const a = peekMetadata(straight)!;
  const b = peekMetadata(split)!;
  assert.is(b.step, a.step);
  assert.is(
    b.tensors_sha256,
    a.tensors_sha256,
    'the resumed run ends on the same bits (weights and running statistics)',
  );
  const count = loadCheckpoint(split);
  const layoutCount = count.params[count.params.length - 64]; // the last slot: fc1_bn.num_batches_tracked
  assert.is(layoutCount, 10, 'num_batches_tracked counts 2 epochs of 5 batches');
  const refused = await runCli([
    'train',
    ...options.filter((o) => o !== '--augment'),
    '--epochs',
    '3',
    '--out',
    split,
    '--resume',
  ], { env, timeoutMs });
  assert.is(refused.code, 2);
  assert.match(
    refused.stderr,
    'pass the same --schedule/--gamma/--epochs (cosine, onecycle)/--label-smoothing/--augment to resume it',
  );
});

test('--model FILE: a broken description is refused naming layer and field; a good one trains', async () => {
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ ...FAST, layers: [{ ...FAST.layers[0], kernel: 0 }, ...FAST.layers.slice(1)] }));
  const r = await runCli([
    'train',
    '--model',
    bad,
    '--epochs',
    '1',
    '--limit',
    '64',
    '--no-test',
    '--out',
    join(dir, 'bad.safetensors'),
  ], { env, timeoutMs });
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, `${bad}: layers[0] (conv2d) field "kernel": expected an integer >= 1, got 0`);
  const good = join(dir, 'tiny.json');
  writeFileSync(
    good,
    JSON.stringify({
      name: 'tiny',
      input: [1, 28, 28],
      classes: 10,
      layers: [
        { kind: 'conv2d', name: 'c', outChannels: 4, kernel: 3 },
        { kind: 'batchnorm2d', name: 'bn' },
        { kind: 'relu' },
        { kind: 'avgpool2d' },
        { kind: 'flatten' },
        { kind: 'linear', name: 'fc', outFeatures: 10 },
      ],
    }),
  );
  const ok = await runCli([
    'train',
    '--model',
    good,
    '--epochs',
    '1',
    '--limit',
    '128',
    '--no-test',
    '--out',
    join(dir, 'tiny.safetensors'),
  ], { env, timeoutMs });
  assert.is(ok.code, 0, ok.stderr);
  assert.is(peekMetadata(join(dir, 'tiny.safetensors'))!.model, 'tiny');
});

test.run();
