// The user's path through the tool, as child processes: train a small model, evaluate its checkpoint,
// classify PNG files of real test digits drawn the ways users draw them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { optimizerPath, peekMetadata } from '../../src/train/checkpoint.ts';
import { buildPng } from '../io/png-fixtures.ts';
import { runCli } from '../helpers/cli.ts';
import { testMnistDir, testSplit } from '../helpers/mnist.ts';

const test = suite('cli workflow: train -> eval -> predict');
const dir = mkdtempSync(join(tmpdir(), 'cli-workflow-'));
const env = { MNIST_DIR: testMnistDir() };
const checkpoint = join(dir, 'small.safetensors');
const DIGITS = 10;

/** JSON lines of a --json run. */
const jsonLines = (stdout: string) =>
  stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));

test('train --json on 3000 images writes the checkpoint and its Adam state', async () => {
  const r = await runCli([
    'train',
    '--epochs',
    '1',
    '--limit',
    '3000',
    '--no-test',
    '--seed',
    '3',
    '--json',
    '--out',
    checkpoint,
  ], { env, timeoutMs: 300_000 });
  assert.is(r.code, 0, r.stderr);
  const epoch = jsonLines(r.stdout).find((e) => e.event === 'epoch');
  assert.ok(epoch, `an epoch event in ${r.stdout.slice(0, 500)}`);
  assert.is(epoch.step, 47, '3000 images in batches of 64: 46 full and one of 56');
  assert.ok(epoch.train_accuracy > 0.6, `train accuracy ${epoch.train_accuracy}`);
  assert.ok(existsSync(checkpoint) && existsSync(optimizerPath(checkpoint, peekMetadata(checkpoint))));
});

test('eval --json reports accuracy, loss, per-class figures and a confusion matrix over all 10,000 images', async () => {
  const r = await runCli(['eval', '--checkpoint', checkpoint, '--json'], { env, timeoutMs: 300_000 });
  assert.is(r.code, 0, r.stderr);
  const report = jsonLines(r.stdout).at(-1);
  assert.ok(report.accuracy > 0.85, `test accuracy after 47 steps: ${report.accuracy}`);
  assert.ok(report.mean_loss > 0 && report.mean_loss < 0.6, `mean loss ${report.mean_loss}`);
  const confusion: number[][] = report.confusion;
  assert.is(confusion.length, 10);
  assert.is(confusion.flat().reduce((a, b) => a + b, 0), 10000);
  assert.is(confusion.reduce((sum, row, i) => sum + row[i], 0), report.correct);
  assert.ok(report.images_per_second > 0);
});

test('predict: the same digit as gray light-on-dark, inverted RGB, and scaled up 3x gets the same answer', async () => {
  const test = await testSplit('test');
  const files: { file: string; label: number; variant: string }[] = [];
  for (let d = 0; d < DIGITS; d++) {
    const image = test.images.subarray(d * 784, (d + 1) * 784);
    const label = test.labels[d];
    const save = (variant: string, png: Uint8Array) => {
      const file = join(dir, `digit${d}-${variant}.png`);
      writeFileSync(file, png);
      files.push({ file, label, variant });
    };
    save('gray', buildPng({ width: 28, height: 28, colorType: 0, bitDepth: 8, samples: image }));
    // Dark ink on white paper, as RGB: the tool must detect the background and invert.
    const rgb = new Uint8Array(784 * 3);
    image.forEach((v, i) => rgb.fill(255 - v, 3 * i, 3 * i + 3));
    save('rgb-inverted', buildPng({ width: 28, height: 28, colorType: 2, bitDepth: 8, samples: rgb }));
    const big = new Uint8Array(84 * 84);
    for (let y = 0; y < 84; y++) {
      for (let x = 0; x < 84; x++) big[y * 84 + x] = image[Math.floor(y / 3) * 28 + Math.floor(x / 3)];
    }
    save('3x', buildPng({ width: 84, height: 84, colorType: 0, bitDepth: 8, samples: big }));
  }
  const r = await runCli(['predict', '--checkpoint', checkpoint, '--json', ...files.map((f) => f.file)], {
    env,
    timeoutMs: 300_000,
  });
  assert.is(r.code, 0, r.stderr);
  const answers = jsonLines(r.stdout);
  assert.is(answers.length, files.length);
  const byFile = new Map(answers.map((a) => [a.file, a]));
  let correct = 0;
  for (const { file, label, variant } of files) {
    const answer = byFile.get(file)!;
    assert.ok(answer, `an answer for ${file}`);
    const sum = answer.probabilities.reduce((a: number, b: number) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-5, `${file}: probabilities sum to ${sum}`);
    assert.is(answer.digit, answer.probabilities.indexOf(Math.max(...answer.probabilities)));
    if (variant === 'rgb-inverted') {
      // Inverting back is exact, so the network sees the very same 28x28 pixels.
      assert.equal(answer.probabilities, byFile.get(file.replace('rgb-inverted', 'gray'))!.probabilities, file);
    }
    if (answer.digit === label) correct++;
  }
  assert.ok(correct >= 0.8 * files.length, `${correct} of ${files.length} predictions match the labels`);
});

test('predict refuses a file that is not a PNG, naming it, before touching the GPU', async () => {
  const bad = join(dir, 'notes.png');
  writeFileSync(bad, 'hello');
  const r = await runCli(['predict', '--checkpoint', checkpoint, bad], { env });
  assert.is(r.code, 1);
  assert.match(r.stderr, /notes\.png/);
  assert.match(r.stderr, /not a PNG/i);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
