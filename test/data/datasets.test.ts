// Dataset presets with small IDX files the tests write (no network): each preset's own folder and
// checksums, no download with --no-verify, no download into a folder of another dataset's files,
// class names in eval/show/predict, the dataset recorded in checkpoints and eval's mismatch warning.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { gzipSync } from 'node:zlib';
import { DataError, encodeIdx } from '../../src/data/idx.ts';
import { DownloadError } from '../../src/data/download.ts';
import { type DatasetPreset, DATASETS, FASHION_MNIST, getDataset, KMNIST, MNIST } from '../../src/data/datasets.ts';
import { loadMnist, resolveDataDir } from '../../src/data/mnist.ts';
import { peekMetadata } from '../../src/train/checkpoint.ts';
import { runCli } from '../helpers/cli.ts';
import { testSplit } from '../helpers/mnist.ts';

const test = suite('data/datasets');
let tmp = '';
let count = 0;
test.before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'datasets-test-'));
});
test.after(() => rmSync(tmp, { recursive: true, force: true }));

/** A folder of IDX files: `n` images per split from MNIST's test set, relabelled `(label + shift) % 10`, gzipped. */
async function writeFiles(
  n: number,
  shift = 0,
  skip: string[] = [],
): Promise<{ dir: string; sha256: Record<string, string> }> {
  const dir = join(tmp, `set${count++}`);
  mkdirSync(dir);
  const source = await testSplit('test');
  const sha256: Record<string, string> = {};
  for (const prefix of ['train', 't10k']) {
    const images = encodeIdx([n, 28, 28], source.images.slice(0, n * 784));
    const labels = encodeIdx([n], source.labels.slice(0, n).map((l) => (l + shift) % 10));
    for (
      const [name, contents] of [[`${prefix}-images-idx3-ubyte`, images], [
        `${prefix}-labels-idx1-ubyte`,
        labels,
      ]] as const
    ) {
      sha256[name] = createHash('sha256').update(contents).digest('hex');
      if (!skip.includes(name)) writeFileSync(join(dir, `${name}.gz`), gzipSync(contents));
    }
  }
  return { dir, sha256 };
}

/** A preset like `base` whose checksums are those of files the test wrote, downloading from `mirrors`. */
function presetFor(base: DatasetPreset, sha256: Record<string, string>, mirrors: string[]): DatasetPreset {
  const file = (f: { name: string; bytes: number }) => ({ name: f.name, bytes: f.bytes, sha256: sha256[f.name] });
  return {
    ...base,
    mirrors,
    files: {
      train: { images: file(base.files.train.images), labels: file(base.files.train.labels) },
      test: { images: file(base.files.test.images), labels: file(base.files.test.labels) },
    },
  };
}

const unreachable = { attemptsPerMirror: 1, retryDelayMs: 0, idleTimeoutMs: 2000 };

test('three presets, each with its own mirrors, class names, variable and default folder data/<name>', () => {
  assert.equal([...DATASETS.keys()], ['mnist', 'fashion-mnist', 'kmnist']);
  assert.is(FASHION_MNIST.classes[0], 'T-shirt/top');
  assert.is(FASHION_MNIST.classes[9], 'Ankle boot');
  assert.is(KMNIST.classes[1], 'ki');
  const mirrors = [MNIST, FASHION_MNIST, KMNIST].map((d) => d.mirrors.join());
  assert.is(new Set(mirrors).size, 3);
  for (const preset of DATASETS.values()) {
    for (const split of ['train', 'test'] as const) {
      for (const file of Object.values(preset.files[split])) {
        assert.ok(file.sha256 || file.gzMd5, `${preset.name} ${file.name} has a checksum`);
      }
    }
  }
  const saved = process.env.FASHION_MNIST_DIR;
  delete process.env.FASHION_MNIST_DIR;
  try {
    assert.ok(resolveDataDir(undefined, 'fashion-mnist').endsWith(join('data', 'fashion-mnist')));
    assert.ok(resolveDataDir(undefined, 'kmnist').endsWith(join('data', 'kmnist')));
  } finally {
    if (saved !== undefined) process.env.FASHION_MNIST_DIR = saved;
  }
  assert.throws(() => getDataset('cifar'), /known datasets: mnist, fashion-mnist, kmnist/);
  assert.throws(() => getDataset('toString'), /Unknown dataset/);
});

test('a preset loads its files, verified against its own checksums, with its class names', async () => {
  const { dir, sha256 } = await writeFiles(64);
  const preset = presetFor(FASHION_MNIST, sha256, []);
  const split = await loadMnist({ dataset: preset, dir, split: 'train', download: false });
  assert.is(split.count, 64);
  assert.is(split.dataset, 'fashion-mnist');
  assert.is(split.classes?.[0], 'T-shirt/top');
  // The real presets' checksums refuse these files, naming the preset.
  try {
    await loadMnist({ dataset: 'fashion-mnist', dir, split: 'train', download: false });
    assert.unreachable('checksum accepted');
  } catch (err) {
    assert.instance(err, DataError);
    assert.match((err as Error).message, /does not match Fashion-MNIST/);
  }
});

test("KMNIST: a .gz is verified by the publisher's MD5; an uncompressed file cannot be verified and says so", async () => {
  const { dir } = await writeFiles(8);
  await loadMnist({ dataset: 'kmnist', dir, split: 'test', download: false }).then(
    () => assert.unreachable('accepted'),
    (err) =>
      assert.match(
        (err as Error).message,
        /does not match Kuzushiji-MNIST.*MD5 [0-9a-f]{32}, expected 5c965bf0a639b31b8f53240b1b52f4d7/,
      ),
  );
  const raw = join(tmp, `raw${count++}`);
  mkdirSync(raw);
  const source = await testSplit('test');
  writeFileSync(join(raw, 't10k-images-idx3-ubyte'), encodeIdx([8, 28, 28], source.images.slice(0, 8 * 784)));
  writeFileSync(join(raw, 't10k-labels-idx1-ubyte'), encodeIdx([8], source.labels.slice(0, 8)));
  await loadMnist({ dataset: 'kmnist', dir: raw, split: 'test', download: false }).then(
    () => assert.unreachable('accepted'),
    (err) => assert.match((err as Error).message, /cannot be verified.*checksums of the .gz files only/),
  );
  const unverified = await loadMnist({ dataset: 'kmnist', dir: raw, split: 'test', verify: false });
  assert.is(unverified.count, 8);
});

test('a missing file without network: the error names it, and nothing else lands in the folder', async () => {
  const { dir, sha256 } = await writeFiles(32, 0, ['t10k-labels-idx1-ubyte']);
  const before = readdirSync(dir).sort();
  const preset = presetFor(FASHION_MNIST, sha256, ['http://127.0.0.1:9/']);
  try {
    await loadMnist({ dataset: preset, dir, split: 'test', downloadOptions: unreachable });
    assert.unreachable('loaded');
  } catch (err) {
    assert.instance(err, DownloadError);
    assert.ok((err as Error).message.includes(join(dir, 't10k-labels-idx1-ubyte.gz')), (err as Error).message);
    assert.match((err as Error).message, /127\.0\.0\.1:9/);
  }
  assert.equal(readdirSync(dir).sort(), before);
});

test("no download into a folder holding another dataset's files (MNIST never completes a Fashion-MNIST folder)", async () => {
  // The folder holds files that are not this preset's: a download would mix two datasets.
  const { dir } = await writeFiles(32, 0, ['t10k-labels-idx1-ubyte']);
  const before = readdirSync(dir).sort();
  for (const dataset of ['mnist', 'fashion-mnist'] as const) {
    try {
      await loadMnist({
        dataset,
        dir,
        split: 'test',
        downloadOptions: { ...unreachable, mirrors: ['http://127.0.0.1:9/'] },
      });
      assert.unreachable('loaded');
    } catch (err) {
      assert.instance(err, DataError);
      assert.not.instance(err, DownloadError, 'refused before any download');
      assert.match((err as Error).message, /nothing is downloaded into .*which would mix two datasets/);
    }
  }
  assert.equal(readdirSync(dir).sort(), before);
});

test('--no-verify (verify: false) never downloads: a missing file is named', async () => {
  const { dir } = await writeFiles(16, 0, ['train-images-idx3-ubyte']);
  try {
    await loadMnist({
      dataset: 'fashion-mnist',
      dir,
      split: 'train',
      verify: false,
      downloadOptions: { ...unreachable, mirrors: ['http://127.0.0.1:9/'] },
    });
    assert.unreachable('loaded');
  } catch (err) {
    assert.instance(err, DataError);
    assert.not.instance(err, DownloadError);
    assert.ok((err as Error).message.includes(join(dir, 'train-images-idx3-ubyte.gz')));
    assert.match((err as Error).message, /nothing is downloaded/);
  }
});

test('CLI: train --dataset fashion-mnist records the dataset; eval and show print Fashion class names; eval warns on a mismatch', async () => {
  const { dir } = await writeFiles(192, 3);
  const out = join(dir, 'ckpt', 'fashion.safetensors');
  const env = { MNIST_DIR: join(dir, 'nowhere') };
  const trained = await runCli([
    'train',
    '--dataset',
    'fashion-mnist',
    '--data',
    dir,
    '--no-verify',
    '--epochs',
    '1',
    '--batch-size',
    '64',
    '--out',
    out,
    '--json',
  ], { env, timeoutMs: 300_000 });
  assert.is(trained.code, 0, trained.stderr);
  assert.is(peekMetadata(out)?.dataset, 'fashion-mnist');

  const evaluated = await runCli(['eval', '--checkpoint', out, '--data', dir, '--no-verify'], {
    env,
    timeoutMs: 300_000,
  });
  assert.is(evaluated.code, 0, evaluated.stderr);
  assert.match(evaluated.stdout, /0 T-shirt\/top\s*:/);
  assert.match(evaluated.stdout, /9 Ankle boot\s*:/);
  assert.not.match(evaluated.stderr, /warning/);

  const mismatch = await runCli([
    'eval',
    '--checkpoint',
    out,
    '--dataset',
    'mnist',
    '--data',
    dir,
    '--no-verify',
    '--json',
  ], { env, timeoutMs: 300_000 });
  assert.is(mismatch.code, 0, mismatch.stderr);
  assert.match(mismatch.stderr, /warning: .* was trained on fashion-mnist, evaluated here on mnist/);

  const shown = await runCli([
    'show',
    '--dataset',
    'fashion-mnist',
    '--data',
    dir,
    '--no-verify',
    '--index',
    '0',
    '--no-art',
  ], { env });
  assert.is(shown.code, 0, shown.stderr);
  assert.match(
    shown.stdout,
    /train #0: label \d \((T-shirt\/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot)\)/,
  );

  const unknown = await runCli(['eval', '--checkpoint', out, '--dataset', 'cifar'], { env });
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, /--dataset: unknown dataset "cifar"; known datasets: mnist, fashion-mnist, kmnist/);
});

test('CLI: --dataset fashion-mnist with a file missing fails naming it and fetches nothing into that folder', async () => {
  const { dir } = await writeFiles(32, 0, ['train-images-idx3-ubyte']);
  const before = readdirSync(dir).sort();
  const result = await runCli([
    'train',
    '--dataset',
    'fashion-mnist',
    '--data',
    dir,
    '--epochs',
    '1',
    '--out',
    join(dir, 'x.safetensors'),
  ], { env: { MNIST_DIR: join(dir, 'nowhere') } });
  assert.is(result.code, 1, result.stderr);
  // Its other files are not Fashion-MNIST's (the real checksums): no download is even tried.
  assert.match(result.stderr, /train-labels-idx1-ubyte\.gz: is not Fashion-MNIST.*nothing is downloaded/);
  assert.equal(readdirSync(dir).filter((f) => !f.startsWith('x.')).sort(), before);
  assert.not.ok(existsSync(join(dir, 'train-images-idx3-ubyte.gz')));
});

test.run();
