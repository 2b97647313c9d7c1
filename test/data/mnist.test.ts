import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DataError, encodeIdx } from '../../src/data/idx.ts';
import { DownloadError } from '../../src/data/download.ts';
import { loadMnist, type LoadMnistOptions, MNIST_FILES, projectRoot, resolveDataDir } from '../../src/data/mnist.ts';

const test = suite('data/mnist');
const realDir = process.env.MNIST_DIR || join(projectRoot(), '..', 'shared', 'mnist');
const TEST_IMAGES = MNIST_FILES.test.images.name;
const TEST_LABELS = MNIST_FILES.test.labels.name;

let tmp = '';
let dirCount = 0;
/** The gzipped and uncompressed test split, read once. */
const real = {
  imagesGz: new Uint8Array(),
  labelsGz: new Uint8Array(),
  images: new Uint8Array(),
  labels: new Uint8Array(),
};

test.before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'mnist-test-'));
  // Plain Uint8Array copies: Buffer.slice() would return views and let one test corrupt the next.
  real.imagesGz = new Uint8Array(readFileSync(join(realDir, `${TEST_IMAGES}.gz`)));
  real.labelsGz = new Uint8Array(readFileSync(join(realDir, `${TEST_LABELS}.gz`)));
  real.images = new Uint8Array(gunzipSync(real.imagesGz));
  real.labels = new Uint8Array(gunzipSync(real.labelsGz));
});
test.after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** A fresh folder holding the given files. */
function folder(files: Record<string, Uint8Array | 'directory'>): string {
  const dir = join(tmp, `case${dirCount++}`);
  mkdirSync(dir);
  for (const [name, contents] of Object.entries(files)) {
    if (contents === 'directory') mkdirSync(join(dir, name));
    else writeFileSync(join(dir, name), contents);
  }
  return dir;
}

async function expectDataError(promise: Promise<unknown>, ...fragments: string[]): Promise<DataError> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, DataError, `expected a DataError, got ${(err as Error)?.stack ?? err}`);
    for (const fragment of fragments) {
      assert.ok(
        (err as Error).message.includes(fragment),
        `"${(err as Error).message}" does not mention "${fragment}"`,
      );
    }
    return err as DataError;
  }
  assert.unreachable(`expected a DataError mentioning ${fragments.join(', ')}`);
  throw new Error('unreachable');
}

const offline: Partial<LoadMnistOptions> = { download: false };

test('the real training split loads and verifies: 60000 images of 28x28, labels 5 0 4 1 9 ...', async () => {
  const train = await loadMnist({ dir: realDir, split: 'train', ...offline });
  assert.is(train.count, 60000);
  assert.is(train.rows, 28);
  assert.is(train.cols, 28);
  assert.is(train.images.length, 60000 * 784);
  assert.is(train.labels.length, 60000);
  assert.equal(Array.from(train.labels.subarray(0, 5)), [5, 0, 4, 1, 9]);
  // The first image is a 5: its centre row has ink, its corner none.
  assert.is(train.images[0], 0);
  assert.ok(train.images.subarray(14 * 28, 15 * 28).some((p) => p > 0));
});

test('the real test split loads and verifies: 10000 images, labels 7 2 1 0 4 ...', async () => {
  const split = await loadMnist({ dir: realDir, split: 'test', ...offline });
  assert.is(split.count, 10000);
  assert.is(split.images.length, 10000 * 784);
  assert.equal(Array.from(split.labels.subarray(0, 5)), [7, 2, 1, 0, 4]);
  assert.equal(Array.from(split.images.subarray(0, 784)), Array.from(real.images.subarray(16, 16 + 784)));
});

test('uncompressed files are accepted and preferred over .gz', async () => {
  const broken = real.imagesGz.subarray(0, 100);
  const dir = folder({ [TEST_IMAGES]: real.images, [`${TEST_IMAGES}.gz`]: broken, [TEST_LABELS]: real.labels });
  const split = await loadMnist({ dir, split: 'test', ...offline });
  assert.is(split.count, 10000);
  assert.equal(Array.from(split.labels.subarray(0, 5)), [7, 2, 1, 0, 4]);
});

test('resolveDataDir: explicit dir, else $MNIST_DIR, else data/mnist under the project root', () => {
  const saved = process.env.MNIST_DIR;
  try {
    process.env.MNIST_DIR = '/env/mnist';
    assert.is(resolveDataDir('/explicit/dir'), '/explicit/dir');
    assert.is(resolveDataDir('relative'), join(process.cwd(), 'relative'));
    assert.is(resolveDataDir(), '/env/mnist');
    delete process.env.MNIST_DIR;
    assert.is(resolveDataDir(), join(projectRoot(), 'data', 'mnist'));
    assert.ok(existsSync(join(projectRoot(), 'package.json')));
    assert.ok(existsSync(join(projectRoot(), 'data', 'README.md')), 'project root should hold data/README.md');
  } finally {
    if (saved === undefined) delete process.env.MNIST_DIR;
    else process.env.MNIST_DIR = saved;
  }
});

test('bad magic number', async () => {
  const images = real.images.slice();
  images.set([0, 0, 0x0b, 3], 0); // 0x0b: int16 elements
  const dir = folder({ [TEST_IMAGES]: images, [TEST_LABELS]: real.labels });
  await expectDataError(loadMnist({ dir, split: 'test', ...offline }), join(dir, TEST_IMAGES), 'magic number');
});

test('image and label files swapped', async () => {
  const dir = folder({ [TEST_IMAGES]: real.labels, [TEST_LABELS]: real.images });
  await expectDataError(loadMnist({ dir, split: 'test', ...offline }), join(dir, TEST_IMAGES), 'not images', 'swapped');
});

test('truncated payload', async () => {
  const dir = folder({ [TEST_IMAGES]: real.images.subarray(0, real.images.length - 784), [TEST_LABELS]: real.labels });
  await expectDataError(loadMnist({ dir, split: 'test', ...offline }), join(dir, TEST_IMAGES), 'truncated', '7840000');
});

test('truncated gzip', async () => {
  const dir = folder({
    [`${TEST_IMAGES}.gz`]: real.imagesGz.subarray(0, real.imagesGz.length >> 1),
    [`${TEST_LABELS}.gz`]: real.labelsGz,
  });
  await expectDataError(
    loadMnist({ dir, split: 'test', ...offline }),
    join(dir, `${TEST_IMAGES}.gz`),
    'truncated gzip',
  );
});

test('count mismatch between images and labels', async () => {
  const labels = encodeIdx([9999], real.labels.subarray(8, 8 + 9999));
  const dir = folder({ [`${TEST_IMAGES}.gz`]: real.imagesGz, [TEST_LABELS]: labels });
  // Reported as a mismatch even though the checksum would also fail: the structural message says more.
  await expectDataError(
    loadMnist({ dir, split: 'test', ...offline }),
    join(dir, TEST_LABELS),
    '9999 labels',
    '10000 images',
  );
});

test('bad checksum, and verify: false accepts the file', async () => {
  const images = real.images.slice();
  images[16 + 300] ^= 0x40;
  const dir = folder({ [TEST_IMAGES]: images, [`${TEST_LABELS}.gz`]: real.labelsGz });
  await expectDataError(
    loadMnist({ dir, split: 'test', ...offline }),
    join(dir, TEST_IMAGES),
    'SHA-256',
    MNIST_FILES.test.images.sha256,
    '--no-verify',
  );
  const split = await loadMnist({ dir, split: 'test', verify: false, ...offline });
  assert.is(split.images[300], images[16 + 300]);
});

test('a gzipped copy with a bad checksum is reported too', async () => {
  const labels = real.labels.slice();
  labels[8] = (labels[8] + 1) % 10;
  const dir = folder({ [`${TEST_IMAGES}.gz`]: real.imagesGz, [`${TEST_LABELS}.gz`]: gzipSync(labels) });
  await expectDataError(loadMnist({ dir, split: 'test', ...offline }), join(dir, `${TEST_LABELS}.gz`), 'SHA-256');
});

test('a directory where a file should be', async () => {
  const dir = folder({ [`${TEST_IMAGES}.gz`]: 'directory', [`${TEST_LABELS}.gz`]: real.labelsGz });
  await expectDataError(loadMnist({ dir, split: 'test' }), join(dir, `${TEST_IMAGES}.gz`), 'is a directory');
});

test('a missing file with downloads off says where to put the files', async () => {
  const dir = folder({ [`${TEST_IMAGES}.gz`]: real.imagesGz });
  await expectDataError(
    loadMnist({ dir, split: 'test', ...offline }),
    join(dir, `${TEST_LABELS}.gz`),
    'missing',
    'train-images-idx3-ubyte.gz',
    't10k-labels-idx1-ubyte.gz',
    `into ${dir}`,
    'MNIST_DIR',
    '--data',
  );
});

test('other IDX datasets with verify: false must still be 28x28 digits with labels 0-9', async () => {
  const wide = folder({
    [TEST_IMAGES]: encodeIdx([2, 14, 56], new Uint8Array(2 * 784)),
    [TEST_LABELS]: encodeIdx([2], new Uint8Array(2)),
  });
  await expectDataError(
    loadMnist({ dir: wide, split: 'test', verify: false, ...offline }),
    join(wide, TEST_IMAGES),
    '14x56',
  );
  const labels = folder({
    [TEST_IMAGES]: encodeIdx([2, 28, 28], new Uint8Array(2 * 784)),
    [TEST_LABELS]: encodeIdx([2], Uint8Array.of(3, 10)),
  });
  await expectDataError(
    loadMnist({ dir: labels, split: 'test', verify: false, ...offline }),
    join(labels, TEST_LABELS),
    'label 1 is 10',
  );
  const ok = folder({
    [TEST_IMAGES]: encodeIdx([2, 28, 28], new Uint8Array(2 * 784).fill(9)),
    [TEST_LABELS]: encodeIdx([2], Uint8Array.of(3, 9)),
  });
  const split = await loadMnist({ dir: ok, split: 'test', verify: false, ...offline });
  assert.is(split.count, 2);
  assert.equal(Array.from(split.labels), [3, 9]);
});

// ---- downloads, against a local server -------------------------------------------------------

interface LocalServer {
  base: string;
  requests: string[];
  close(): Promise<void>;
}

/**
 * Routes: /good/ serves the real files, /corrupt/ the real files with one byte flipped, /cut/
 * declares the full length and hangs up halfway, /flaky/ fails each file's first request with 503;
 * everything else is 404.
 */
async function startServer(): Promise<LocalServer> {
  const requests: string[] = [];
  const seen = new Set<string>();
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '/';
    requests.push(url);
    const [, route, name] = url.split('/');
    const path = join(realDir, name ?? '');
    res.setHeader('Connection', 'close');
    if (!name || !/^[\w.-]+\.gz$/.test(name) || !existsSync(path)) {
      res.writeHead(404).end('not found');
      return;
    }
    const body = readFileSync(path);
    if (route === 'good' || (route === 'flaky' && seen.has(url))) {
      res.writeHead(200, { 'Content-Length': body.length }).end(body);
    } else if (route === 'flaky') {
      seen.add(url);
      res.writeHead(503).end('try later');
    } else if (route === 'corrupt') {
      body[body.length >> 1] ^= 0x10;
      res.writeHead(200, { 'Content-Length': body.length }).end(body);
    } else if (route === 'cut') {
      res.writeHead(200, { 'Content-Length': body.length });
      res.write(body.subarray(0, body.length >> 1), () => res.destroy());
    } else {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('local server has no port');
  return {
    base: `http://127.0.0.1:${address.port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

const fast = { attemptsPerMirror: 2, retryDelayMs: 0, idleTimeoutMs: 10_000 };

test('download: first mirror missing, second serves; files saved atomically and verified', async () => {
  const server = await startServer();
  try {
    const dir = join(tmp, `download${dirCount++}`, 'nested');
    const messages: string[] = [];
    const split = await loadMnist({
      dir,
      split: 'test',
      onProgress: (m) => messages.push(m),
      downloadOptions: { ...fast, mirrors: [`${server.base}/missing/`, `${server.base}/good`] },
    });
    assert.is(split.count, 10000);
    assert.equal(Array.from(split.labels.subarray(0, 5)), [7, 2, 1, 0, 4]);
    assert.equal(readdirSync(dir).sort(), [`${TEST_IMAGES}.gz`, `${TEST_LABELS}.gz`]);
    assert.equal(Array.from(readFileSync(join(dir, `${TEST_LABELS}.gz`))), Array.from(real.labelsGz));
    assert.ok(messages.some((m) => m.includes(`${server.base}/good/${TEST_IMAGES}.gz`)), messages.join('\n'));
    assert.ok(messages.some((m) => /\d0% of/.test(m)), `no percentage in:\n${messages.join('\n')}`);
    // A 404 is not retried on the same mirror.
    assert.is(server.requests.filter((r) => r.startsWith('/missing/')).length, 2);
    // A second load finds the files and downloads nothing.
    const before = server.requests.length;
    await loadMnist({ dir, split: 'test', downloadOptions: { ...fast, mirrors: [`${server.base}/good/`] } });
    assert.is(server.requests.length, before);
  } finally {
    await server.close();
  }
});

test('download: a mirror answering 503 is retried', async () => {
  const server = await startServer();
  try {
    const dir = join(tmp, `download${dirCount++}`);
    const split = await loadMnist({
      dir,
      split: 'test',
      downloadOptions: { ...fast, mirrors: [`${server.base}/flaky/`] },
    });
    assert.is(split.count, 10000);
    assert.is(server.requests.length, 4);
  } finally {
    await server.close();
  }
});

test('download: corrupt and interrupted downloads are rejected and leave nothing behind', async () => {
  const server = await startServer();
  try {
    for (const route of ['corrupt', 'cut']) {
      const dir = join(tmp, `download${dirCount++}`);
      const err = await expectDataError(
        loadMnist({ dir, split: 'test', downloadOptions: { ...fast, mirrors: [`${server.base}/${route}/`] } }),
        join(dir, `${TEST_IMAGES}.gz`),
        `${server.base}/${route}/${TEST_IMAGES}.gz`,
        'MNIST_DIR',
      );
      assert.instance(err, DownloadError);
      assert.is((err as DownloadError).failures.length, 2, `${route}: two attempts`);
      assert.equal(readdirSync(dir), [], `${route}: left ${readdirSync(dir)}`);
    }
  } finally {
    await server.close();
  }
});

test('download: when every mirror fails, the error says exactly where to put the files', async () => {
  const server = await startServer();
  try {
    const dir = join(tmp, `download${dirCount++}`);
    const messages: string[] = [];
    const err = await expectDataError(
      loadMnist({
        dir,
        split: 'train',
        onProgress: (m) => messages.push(m),
        downloadOptions: { ...fast, mirrors: [`${server.base}/missing/`, 'http://127.0.0.1:9/'] },
      }),
      join(dir, 'train-images-idx3-ubyte.gz'),
      'HTTP 404',
      'http://127.0.0.1:9/train-images-idx3-ubyte.gz',
      'train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz',
      `into ${dir}`,
      'MNIST_DIR',
      '--data',
    );
    assert.is((err as DownloadError).failures.length, 3); // 404 once, connection refused twice
    assert.equal(readdirSync(dir), []);
    assert.ok(messages.length > 0);
  } finally {
    await server.close();
  }
});

test.run();
