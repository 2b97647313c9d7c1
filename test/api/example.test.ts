// examples/tiny-cnn.ts, docs/library.md's example, run as a user runs it (importing
// 'webgpu-digits' by name) on 320 images, under the runtime running this suite: Node runs the
// compiled build/examples/tiny-cnn.js (the name resolves to dist/mod.js), Deno the .ts (deno.json maps it).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { loadModel } from '../../src/mod.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import { thisRuntime } from '../helpers/cli.ts';
import { repoRoot, testMnistDir } from '../helpers/mnist.ts';

const test = suite(`api: examples/tiny-cnn under ${thisRuntime}`);

test('declares its own CNN, trains it on 320 images, evaluates, saves, reloads and predicts', () => {
  const root = repoRoot();
  const cwd = mkdtempSync(join(tmpdir(), 'example-'));
  try {
    const argv = thisRuntime === 'deno'
      ? [process.execPath, 'run', '-A', '--config', join(root, 'deno.json'), join(root, 'examples', 'tiny-cnn.ts')]
      : [process.execPath, join(root, 'build', 'examples', 'tiny-cnn.js')];
    const run = spawnSync(argv[0], argv.slice(1), {
      cwd,
      encoding: 'utf8',
      timeout: 300_000,
      env: { ...process.env, MNIST_DIR: testMnistDir(), LIMIT: '320', EPOCHS: '1', NO_COLOR: '1' },
    });
    assert.is(run.status, 0, run.stderr);
    assert.match(run.stdout, /^epoch 1: train loss \d\.\d{4}, \d+ images\/s$/m);
    const accuracy = Number(/test accuracy ([\d.]+)% on 320 images/.exec(run.stdout)?.[1]);
    assert.ok(accuracy > 25, `test accuracy ${accuracy}% (chance is 10%)\n${run.stdout}`);
    assert.match(run.stdout, /first 5 test images: predicted \d \d \d \d \d, labels 7 2 1 0 4/);
    const path = join(cwd, 'data', 'checkpoints', 'tiny.safetensors');
    assert.ok(existsSync(path));
    const saved = loadModel(path);
    assert.is(saved.model.name, 'tiny');
    assert.is(saved.dataset, 'mnist');
    assert.equal(saved.model.layers.filter((l) => l.kind === 'maxpool2d').length, 2);
    // saveModel records what the model knows (its epochs), not a run it does not know.
    const { metadata } = loadCheckpoint(path);
    assert.is(metadata.epoch, '1');
    for (const unknown of ['seed', 'batch_size', 'adam', 'step', 'shuffle']) {
      assert.is(metadata[unknown], undefined, `${unknown} is not known to saveModel`);
    }
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('README.md and docs/library.md show the examples as they are in examples/', () => {
  const root = repoRoot();
  for (const [doc, file] of [['README.md', 'quick-start.ts'], [join('docs', 'library.md'), 'tiny-cnn.ts']]) {
    const example = readFileSync(join(root, 'examples', file), 'utf8').trimEnd();
    assert.ok(
      readFileSync(join(root, doc), 'utf8').includes('```ts\n' + example + '\n```'),
      `${doc} does not show examples/${file} as it is: copy the file into its \`\`\`ts block`,
    );
  }
});

test.run();
