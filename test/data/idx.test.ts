import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { gzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { DataError, decompressIdx, encodeIdx, parseIdx, readIdxFile } from '../../src/data/idx.ts';
import { projectRoot } from '../../src/data/mnist.ts';
import { Rng } from '../../src/util/random.ts';
import { testSeed } from '../helpers/compare.ts';

const test = suite('data/idx');
const realDir = process.env.MNIST_DIR || join(projectRoot(), '..', 'shared', 'mnist');
let tmp = '';

test.before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'idx-test-'));
});
test.after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Runs `fn`, which must throw a DataError whose message holds every fragment. */
function expectDataError(fn: () => unknown, ...fragments: string[]): DataError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, DataError, `expected a DataError, got ${err}`);
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

function randomBytes(rng: Rng, count: number): Uint8Array {
  return new Uint8Array(count).map(() => rng.int(256));
}

test('encode then parse round-trips 1-D to 4-D arrays, including empty ones', () => {
  const seed = testSeed();
  const rng = new Rng(seed);
  for (const dims of [[5], [0], [3, 4, 5], [2, 28, 28], [2, 3, 1, 4], [0, 28, 28]]) {
    const data = randomBytes(rng, dims.reduce((a, b) => a * b, 1));
    const parsed = parseIdx(encodeIdx(dims, data), 'memory');
    assert.equal(parsed.dims, dims, `dims ${dims} seed=${seed}`);
    assert.is(parsed.magic, 0x800 + dims.length);
    assert.equal(Array.from(parsed.data), Array.from(data), `data ${dims} seed=${seed}`);
  }
});

test('the MNIST magic numbers are 2051 for images and 2049 for labels', () => {
  assert.is(parseIdx(encodeIdx([1, 2, 2], new Uint8Array(4)), 'x').magic, 2051);
  assert.is(parseIdx(encodeIdx([3], new Uint8Array(3)), 'x').magic, 2049);
});

test('the real files parse: 60000 and 10000 items of 28x28, first labels pinned', () => {
  const trainLabels = readIdxFile(join(realDir, 'train-labels-idx1-ubyte.gz'));
  assert.equal(trainLabels.dims, [60000]);
  assert.equal(Array.from(trainLabels.data.subarray(0, 5)), [5, 0, 4, 1, 9]);
  const testImages = readIdxFile(join(realDir, 't10k-images-idx3-ubyte.gz'));
  assert.equal(testImages.dims, [10000, 28, 28]);
  assert.is(testImages.magic, 2051);
  const testLabels = readIdxFile(join(realDir, 't10k-labels-idx1-ubyte.gz'));
  assert.equal(Array.from(testLabels.data.subarray(0, 5)), [7, 2, 1, 0, 4]);
});

test('raw and gzipped files give the same array', () => {
  const data = new Uint8Array([1, 2, 3, 4, 5, 6]);
  const raw = join(tmp, 'six-idx2-ubyte');
  writeFileSync(raw, encodeIdx([2, 3], data));
  writeFileSync(`${raw}.gz`, gzipSync(encodeIdx([2, 3], data)));
  for (const path of [raw, `${raw}.gz`]) {
    const parsed = readIdxFile(path);
    assert.equal(parsed.dims, [2, 3], path);
    assert.equal(Array.from(parsed.data), Array.from(data), path);
  }
});

test('bad magic numbers are rejected', () => {
  const good = encodeIdx([2, 2, 2], new Uint8Array(8));
  const bad = (edit: (b: Uint8Array) => void) => {
    const b = good.slice();
    edit(b);
    return b;
  };
  expectDataError(
    () => parseIdx(bad((b) => b.set([0x12, 0x34, 0x56, 0x78])), 'f1'),
    'f1',
    'magic number 305419896',
    'not an IDX',
  );
  expectDataError(() => parseIdx(bad((b) => (b[2] = 0x0d)), 'f2'), 'f2', 'unsigned bytes'); // 0x0d: float32 elements
  expectDataError(() => parseIdx(bad((b) => (b[3] = 0)), 'f3'), 'f3', 'magic');
  expectDataError(() => parseIdx(bad((b) => (b[3] = 9)), 'f4'), 'f4', 'magic');
});

test('a length that does not match the header names the magic (an images file with a labels magic)', () => {
  const images = encodeIdx([2, 2, 2], new Uint8Array(8));
  images[3] = 1; // 0x00000801 = 2049: one dimension, so the other two sizes read as data
  expectDataError(
    () => parseIdx(images, 'f'),
    'f',
    'its header (magic 2049 = 0x00000801, 1 dimension) declares 2 = 2 bytes',
  );
});

test('short headers, truncated and overlong payloads are rejected with the sizes', () => {
  const file = encodeIdx([3, 2, 2], new Uint8Array(12));
  expectDataError(() => parseIdx(file.subarray(0, 3), 'short'), 'short', 'too short');
  expectDataError(() => parseIdx(file.subarray(0, 10), 'hdr'), 'hdr', 'truncated', '3 dimensions');
  expectDataError(
    () => parseIdx(file.subarray(0, file.length - 1), 'cut'),
    'cut',
    'truncated',
    '3x2x2 = 12 bytes',
    'only 11',
  );
  const long = new Uint8Array(file.length + 5);
  long.set(file);
  expectDataError(() => parseIdx(long, 'long'), 'long', 'longer', '17 bytes follow');
  const negative = file.slice();
  negative.set([0x80, 0, 0, 0], 8);
  expectDataError(() => parseIdx(negative, 'neg'), 'neg', 'negative');
  const huge = file.slice();
  huge.set([0x7f, 0xff, 0xff, 0xff], 4);
  huge.set([0x7f, 0xff, 0xff, 0xff], 8);
  expectDataError(() => parseIdx(huge, 'huge'), 'huge', 'truncated');
});

test('truncated, corrupt and mislabelled gzip data are rejected', () => {
  const gz = gzipSync(encodeIdx([100], new Uint8Array(100).fill(7)));
  for (const cut of [1, 2, 10, gz.length >> 1, gz.length - 1]) {
    expectDataError(() => decompressIdx(gz.subarray(0, cut), `cut${cut}.gz`), `cut${cut}.gz`, 'gzip');
  }
  expectDataError(() => decompressIdx(gz.subarray(0, gz.length >> 1), 'half.gz'), 'half.gz', 'truncated gzip');
  const crc = Uint8Array.from(gz);
  crc[crc.length - 6] ^= 1;
  expectDataError(() => decompressIdx(crc, 'crc.gz'), 'crc.gz', 'corrupt gzip');
  expectDataError(() => decompressIdx(encodeIdx([1], new Uint8Array(1)), 'plain.gz'), 'plain.gz', 'not gzip data');
  expectDataError(
    () => decompressIdx(new TextEncoder().encode('<html>404</html>'), 'page.gz'),
    'page.gz',
    'not gzip data',
  );
  expectDataError(() => decompressIdx(gz, 'named-raw'), 'named-raw', 'holds gzip data');
});

test('a missing file and a directory in place of a file are reported by path', () => {
  const missing = join(tmp, 'nothing-here.gz');
  expectDataError(() => readIdxFile(missing), missing, 'does not exist');
  const dir = join(tmp, 'a-directory-idx1-ubyte.gz');
  mkdirSync(dir);
  expectDataError(() => readIdxFile(dir), dir, 'is a directory');
});

test('a FIFO or a device in place of a data file is refused by name, not read (which would hang)', () => {
  const fifo = join(tmp, 'fifo-idx');
  spawnSync('mkfifo', [fifo]);
  expectDataError(() => readIdxFile(fifo), fifo, 'is a named pipe, not a data file');
  expectDataError(() => readIdxFile('/dev/zero'), '/dev/zero', 'is a character device, not a data file');
});

test('DataError keeps the path, the problem and the advice apart', () => {
  const err = expectDataError(() => parseIdx(new Uint8Array(2), '/some/file'), '/some/file');
  assert.is(err.path, '/some/file');
  assert.ok(err.problem.includes('too short'));
  assert.ok(err.advice.includes('re-download'));
  assert.is(err.name, 'DataError');
});

test.run();
