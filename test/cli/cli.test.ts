// The command-line tool as a user runs it: help, usage errors (exit 2, nothing written), data display.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import process from 'node:process';
import { runCli, thisRuntime } from '../helpers/cli.ts';
import { repoRoot } from '../helpers/mnist.ts';
import { testMnistDir, testSplit } from '../helpers/mnist.ts';
import { decodePng } from '../../src/io/png.ts';
import { DEFAULT_AUGMENT } from '../../src/kernels/augment.ts';
import { augmentReference } from '../../src/reference/augment.ts';

const test = suite('cli');
const dir = mkdtempSync(join(tmpdir(), 'cli-test-'));
const env = { MNIST_DIR: testMnistDir() };

test('help lists the commands; each command has --help', async () => {
  const top = await runCli(['--help']);
  assert.is(top.code, 0);
  for (const command of ['train', 'eval', 'predict', 'show']) assert.match(top.stdout, command);
  for (const command of ['train', 'eval', 'predict', 'show']) {
    const r = await runCli([command, '--help']);
    assert.is(r.code, 0, `${command} --help: ${r.stderr}`);
    assert.match(r.stdout, `Usage: ${command}`);
  }
});

for (
  const [args, message] of [
    [['frobnicate'], /Unknown command "frobnicate"/],
    [['train', '--batch-size', '0'], /--batch-size must be a decimal integer in \[1, 60000\], got "0"/],
    [['train', '--lr', '0'], /--lr must be a positive decimal number/],
    [['train', '--epochs', 'ten'], /--epochs must be a decimal integer/],
    [['train', '--bogus'], /Unknown option '--bogus'/],
    [['eval', '--split', 'validation'], /--split must be one of test, train/],
    [['predict'], /give at least one PNG file/],
    [['show', '--index', '5-2'], /runs backwards/],
  ] as const
) {
  test(`usage error: ${args.join(' ')} -> exit 2, nothing written`, async () => {
    const out = join(dir, 'usage.safetensors');
    const r = await runCli([...args, ...(args[0] === 'train' ? ['--out', out] : [])], { env });
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.not.ok(existsSync(out));
  });
}

// `npm ci` links the npm package's Deno binary as node_modules/.bin/deno, which deno task would take
// for a JavaScript bin and fail to parse; the tasks therefore start Deno through `env` (see deno.json).
test('deno task runs the CLI with the Deno that npm ci installs', () => {
  const root = repoRoot();
  const deno = thisRuntime === 'deno' ? process.execPath : join(root, 'node_modules', '.bin', 'deno');
  const result = spawnSync(deno, ['task', 'show', '--help'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  assert.is(result.status, 0, `deno task show --help exited ${result.status}: ${result.stderr}`);
  assert.match(result.stdout, /Usage: show/);
});

test('eval without a checkpoint says where it looked and what to do', async () => {
  const r = await runCli(['eval', '--checkpoint', join(dir, 'none.safetensors')], { env });
  assert.is(r.code, 1);
  assert.match(r.stderr, /none\.safetensors does not exist\. Train first/);
});

test('show prints the first training digits with labels and writes PNGs', async () => {
  const out = join(dir, 'png');
  const r = await runCli(['show', '--index', '0-2', '--out-dir', out], { env });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /train #0: label 5/);
  assert.match(r.stdout, /train #2: label 4/);
  assert.equal(readdirSync(out).sort(), ['train-0-label5.png', 'train-1-label0.png', 'train-2-label4.png']);
});

test('show replaces an existing PNG only with --overwrite, and refuses before printing anything', async () => {
  const out = join(dir, 'png-again');
  mkdirSync(out);
  const kept = join(out, 'train-1-label0.png');
  writeFileSync(kept, 'not yet a png');
  const refused = await runCli(['show', '--index', '0-2', '--out-dir', out], { env });
  assert.is(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /train-1-label0\.png exists; pass --overwrite to replace it/);
  assert.is(refused.stdout, '');
  assert.equal(readdirSync(out), ['train-1-label0.png']);
  assert.is(readFileSync(kept, 'utf8'), 'not yet a png');
  const replaced = await runCli(['show', '--index', '0-2', '--out-dir', out, '--overwrite', '--no-art'], { env });
  assert.is(replaced.code, 0, replaced.stderr);
  assert.equal(readdirSync(out).sort(), ['train-0-label5.png', 'train-1-label0.png', 'train-2-label4.png']);
  assert.is(decodePng(readFileSync(kept)).width, 28);
});

test('show --augment writes each image as training augments it: the GPU kernel, within rounding of the float64 reference', async () => {
  const out = join(dir, 'augmented');
  const r = await runCli([
    'show',
    '--index',
    '3,0-1',
    '--augment',
    '--seed',
    '7',
    '--step',
    '5',
    '--no-art',
    '--out-dir',
    out,
  ], { env });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /augmented \(seed 7, step 5, batch position 0\): rotated -?\d+\.\d°, scaled \d\.\d{3}/);
  assert.equal(readdirSync(out).sort(), [
    'train-0-label5-augmented.png',
    'train-0-label5.png',
    'train-1-label0-augmented.png',
    'train-1-label0.png',
    'train-3-label1-augmented.png',
    'train-3-label1.png',
  ]);
  // As one batch of the three, in the order given.
  const train = await testSplit('train');
  const size = 28 * 28;
  const batch = new Uint8Array(3 * size);
  [3, 0, 1].forEach((index, i) => batch.set(train.images.subarray(index * size, (index + 1) * size), i * size));
  const want = augmentReference({ batch: 3, channels: 1, height: 28, width: 28 }, DEFAULT_AUGMENT, batch, 7, 5);
  for (
    const [i, name] of ['train-3-label1-augmented.png', 'train-0-label5-augmented.png', 'train-1-label0-augmented.png']
      .entries()
  ) {
    const { pixels } = decodePng(readFileSync(join(out, name)), name);
    let changed = 0;
    for (let p = 0; p < size; p++) {
      const expected = Math.min(255, Math.max(0, Math.round(want[i * size + p])));
      assert.ok(
        Math.abs(pixels[p] - expected) <= 1,
        `${name} pixel ${p}: ${pixels[p]}, reference ${want[i * size + p]}`,
      );
      if (pixels[p] !== batch[i * size + p]) changed++;
    }
    assert.ok(changed > 0, `${name}: the transform changed the image`);
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
