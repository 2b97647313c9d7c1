// The library's train() with a preset's recipe and the training options (schedule, augmentation, AdamW,
// label smoothing) ends on the same bits as the CLI given the same settings: the two are one trainer.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getModel, loadDataset, RECIPES, train } from '../../src/mod.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import { assertExactlyEqual } from '../helpers/compare.ts';
import { runCli, thisRuntime } from '../helpers/cli.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import { testMnistDir } from '../helpers/mnist.ts';

const test = suite(`api: train options (${thisRuntime})`);
const dir = mkdtempSync(join(tmpdir(), 'api-train-'));
const env = { MNIST_DIR: testMnistDir() };

test('fast with its recipe, augmentation, AdamW and label smoothing: the API and the CLI end on the same bits', async () => {
  const out = join(dir, 'cli.safetensors');
  const r = await runCli([
    'train',
    '--model',
    'fast',
    '--limit',
    '320',
    '--no-test',
    '--augment',
    '--adamw',
    '--weight-decay',
    '0.01',
    '--label-smoothing',
    '0.1',
    '--out',
    out,
  ], { env, timeoutMs: 600_000 });
  assert.is(r.code, 0, r.stderr);
  const recipe = RECIPES.get('fast')!;
  const data = await loadDataset({ dir: testMnistDir(), split: 'train', limit: 320 });
  const trained = await train(await sharedGpu(), getModel('fast'), data, {
    epochs: recipe.epochs,
    lr: recipe.lr,
    schedule: { name: recipe.schedule! },
    augment: true,
    adamw: true,
    weightDecay: 0.01,
    labelSmoothing: 0.1,
  });
  assertExactlyEqual(trained.params, loadCheckpoint(out).params, 'parameters (running statistics included)');
});

test('train refuses a label smoothing outside [0, 1), an unknown schedule and a batch size of 0', async () => {
  const gpu = await sharedGpu();
  const data = await loadDataset({ dir: testMnistDir(), split: 'train', limit: 64 });
  for (
    const [options, message] of [[{ labelSmoothing: 1 }, /labelSmoothing must be in \[0, 1\), got 1/], [{
      schedule: { name: 'linear' },
    }, /schedule "linear" is not one of constant, step, cosine, onecycle/], [
      { batchSize: 0 },
      /batchSize must be an integer in \[1, 60000\], got 0/,
    ]] as const
  ) {
    try {
      await train(gpu, getModel('digit'), data, options as Parameters<typeof train>[3]);
      assert.unreachable(`${JSON.stringify(options)} should be refused`);
    } catch (err) {
      assert.instance(err, RangeError);
      assert.match((err as Error).message, message);
    }
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
