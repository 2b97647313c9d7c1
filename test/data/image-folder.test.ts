// loadImageFolder on small generated folders: layouts, decoding, conversion, the split, statistics,
// the cache, and every kind of bad input named (item by item).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import {
  channelStatistics,
  describeImageFolder,
  imageCachePath,
  loadImageFolder,
  readImageCache,
  splitIndices,
} from '../../src/data/image-folder.ts';
import { DataError } from '../../src/data/idx.ts';
import { encodeJpeg } from '../../src/io/jpeg.ts';
import { encodePng } from '../../src/io/png.ts';
import type { RasterImage } from '../../src/io/resize.ts';

const test = suite('image-folder');
const root = mkdtempSync(join(tmpdir(), 'image-folder-'));
let serial = 0;
const fresh = () => join(root, `case-${serial++}`);

/** A w x h picture of one color (gray when `rgb` has one value). */
function solid(w: number, h: number, rgb: number[]): RasterImage {
  const channels = rgb.length === 1 ? 1 : 3;
  const pixels = new Uint8Array(w * h * channels);
  for (let i = 0; i < w * h; i++) for (let c = 0; c < channels; c++) pixels[i * channels + c] = rgb[c];
  return { width: w, height: h, channels, pixels };
}

function write(path: string, bytes: Uint8Array | string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, bytes);
}

/** DIR/<class>/<n>.png|jpg: `perClass` pictures per class, class k colored [40k, 255 - 40k, 100]. */
function makeFolder(dir: string, classes: string[], perClass: number, size = 8): void {
  classes.forEach((name, k) => {
    for (let n = 0; n < perClass; n++) {
      const picture = solid(size, size, [40 * k, 255 - 40 * k, 100]);
      if (n % 2) write(join(dir, name, `${n}.jpg`), encodeJpeg(picture, 95));
      else write(join(dir, name, `${n}.png`), encodePng(picture));
    }
  });
}

const expectDataError = (fn: () => unknown, path: string, pattern: RegExp) => {
  try {
    fn();
  } catch (err) {
    assert.instance(err, DataError, String(err));
    assert.is((err as DataError).path, path, (err as Error).message);
    assert.match((err as Error).message, pattern);
    return;
  }
  assert.unreachable(`no error for ${path}`);
};

test('a single folder: sorted classes, seeded split recorded, color resized, per-channel statistics', () => {
  const dir = fresh();
  const made = ['b-dog', 'a-cat', 'c-cow'];
  makeFolder(dir, made, 10, 8);
  const cacheDir = fresh();
  const data = loadImageFolder(dir, { size: 4, channels: 3, testFraction: 0.2, seed: 3, cacheDir });
  assert.equal(data.classes, ['a-cat', 'b-dog', 'c-cow']);
  assert.is(data.layout, 'split');
  assert.is(data.train.count + data.test.count, 30);
  assert.is(data.test.count, 6);
  assert.is(data.train.images.length, data.train.count * 3 * 4 * 4);
  assert.equal([data.testFraction, data.seed], [0.2, 3]);
  // Each picture is one color: its planes hold that color (JPEG within a few levels).
  for (let n = 0; n < data.train.count; n++) {
    // Labels follow the sorted names; colors the order the folders were made in.
    const k = made.indexOf(data.classes[data.train.labels[n]]);
    const base = n * 48;
    assert.ok(Math.abs(data.train.images[base] - 40 * k) <= 3, `red of ${n} (class ${k})`);
    assert.ok(Math.abs(data.train.images[base + 16] - (255 - 40 * k)) <= 3, `green of ${n}`);
    assert.ok(Math.abs(data.train.images[base + 32] - 100) <= 3, `blue of ${n}`);
  }
  const expected = channelStatistics(data.train.images, 3, 16);
  assert.equal(data.normalization, expected);
  assert.ok(Math.abs(data.normalization.mean[2] - 100 / 255) < 0.02);
  // The same seed splits the same way; another seed differently.
  const again = loadImageFolder(dir, { size: 4, channels: 3, testFraction: 0.2, seed: 3, cacheDir });
  assert.equal([...again.test.labels], [...data.test.labels]);
  assert.equal([...again.test.images], [...data.test.images]);
  assert.not.equal([...splitIndices(30, 0.2, 4).test], [...splitIndices(30, 0.2, 3).test]);
});

test('train/ and test/ are the two splits; test labels follow the training classes', () => {
  const dir = fresh();
  makeFolder(join(dir, 'train'), ['x', 'y', 'z'], 4);
  makeFolder(join(dir, 'test'), ['x', 'z'], 2);
  const data = loadImageFolder(dir, { size: [6, 5], channels: 1, cacheDir: false });
  assert.is(data.layout, 'train-test');
  assert.equal(data.classes, ['x', 'y', 'z']);
  assert.equal([data.train.count, data.test.count], [12, 4]);
  assert.equal([...data.test.labels].sort(), [0, 0, 2, 2]);
  assert.equal([data.train.rows, data.train.cols, data.train.channels], [6, 5, 1]);
  assert.equal(data.parts.map((p) => p.counts), [[4, 4, 4], [2, 2]]);
});

test('the cache: written once, read when fresh, read anew when a file changes, never left half written', () => {
  const dir = fresh();
  makeFolder(dir, ['a', 'b'], 4);
  const cacheDir = fresh();
  const first = loadImageFolder(dir, { size: 8, channels: 3, cacheDir });
  assert.is(first.parts[0].cache?.fresh, false);
  const path = imageCachePath(cacheDir, dir, 8, 8, 3);
  assert.is(first.parts[0].cache?.path, path);
  assert.is(readImageCache(path)?.header.count, 8);
  const second = loadImageFolder(dir, { size: 8, channels: 3, cacheDir });
  assert.is(second.parts[0].cache?.fresh, true);
  assert.equal([...second.train.images], [...first.train.images]);
  const described = describeImageFolder(dir, { cacheDir }).parts[0];
  assert.equal(described.caches.map((c) => [c.height, c.width, c.channels, c.fresh]), [[8, 8, 3, true]]);
  assert.equal([described.counts, described.color, described.gray, described.minSize, described.maxSize], [
    [4, 4],
    8,
    0,
    [8, 8],
    [8, 8],
  ]);
  // Another size is another cache; a changed picture (new content, new mtime) is read anew.
  assert.is(loadImageFolder(dir, { size: 5, channels: 3, cacheDir }).parts[0].cache?.fresh, false);
  write(join(dir, 'a', '0.png'), encodePng(solid(8, 8, [1, 2, 3])));
  utimesSync(join(dir, 'a', '0.png'), new Date(), new Date(Date.now() + 5000));
  assert.ok(describeImageFolder(dir, { cacheDir }).parts[0].caches.every((c) => !c.fresh), 'both caches are stale');
  const third = loadImageFolder(dir, { size: 8, channels: 3, cacheDir });
  assert.is(third.parts[0].cache?.fresh, false);
  // A bad file fails the read: the cache of the earlier, good folder stays whole, and no temporary file is left.
  write(join(dir, 'b', 'broken.png'), 'not a png');
  assert.throws(() => loadImageFolder(dir, { size: 8, channels: 3, cacheDir }));
  assert.equal(readdirSync(cacheDir).filter((n) => !n.endsWith('.bin')), []);
  assert.is(readImageCache(path)?.header.count, 8);
});

test('bad input: a file that is not a picture is named; --skip-bad-files skips and counts it', () => {
  const dir = fresh();
  makeFolder(dir, ['a', 'b'], 3);
  write(join(dir, 'a', 'notes.png'), 'hello');
  expectDataError(
    () => loadImageFolder(dir, { size: 8, channels: 1, cacheDir: false }),
    join(dir, 'a', 'notes.png'),
    /neither a PNG nor a JPEG file.*--skip-bad-files/,
  );
  const skipped = loadImageFolder(dir, { size: 8, channels: 1, cacheDir: false, skipBadFiles: true });
  assert.equal(skipped.parts[0].skipped.map((s) => s.path), [join(dir, 'a', 'notes.png')]);
  assert.is(skipped.train.count + skipped.test.count, 6);
});

test('bad input: truncated PNG and JPEG files are named', () => {
  for (
    const [name, bytes] of [['cut.png', encodePng(solid(8, 8, [9, 9, 9]))], [
      'cut.jpg',
      encodeJpeg(solid(8, 8, [9, 9, 9])),
    ]] as const
  ) {
    const dir = fresh();
    makeFolder(dir, ['a', 'b'], 2);
    write(join(dir, 'b', name), bytes.subarray(0, bytes.length - 20));
    expectDataError(
      () => loadImageFolder(dir, { size: 8, channels: 3, cacheDir: false }),
      join(dir, 'b', name),
      /truncated|damaged/,
    );
  }
});

test('bad input: an unreadable file is named', () => {
  const dir = fresh();
  makeFolder(dir, ['a', 'b'], 2);
  const path = join(dir, 'a', 'locked.png');
  write(path, encodePng(solid(8, 8, [1, 1, 1])));
  chmodSync(path, 0);
  if (process.getuid?.() === 0) {
    // root ignores permissions; a dangling symbolic link is unreadable for everyone.
    rmSync(path);
    symlinkSync(join(dir, 'nowhere.png'), path);
  }
  expectDataError(
    () => loadImageFolder(dir, { size: 8, channels: 3, cacheDir: false }),
    path,
    /cannot be read|does not exist/,
  );
  const skipped = loadImageFolder(dir, { size: 8, channels: 3, cacheDir: false, skipBadFiles: true });
  assert.is(skipped.parts[0].skipped.length, 1);
});

test('bad input: a class folder without pictures, a single class, no class folders', () => {
  const empty = fresh();
  makeFolder(empty, ['a', 'b'], 2);
  mkdirSync(join(empty, 'c'));
  write(join(empty, 'c', 'readme.txt'), 'no pictures here');
  expectDataError(
    () => loadImageFolder(empty, { size: 8, channels: 3, cacheDir: false }),
    join(empty, 'c'),
    /holds no PNG or JPEG pictures/,
  );
  const single = fresh();
  makeFolder(single, ['only'], 3);
  expectDataError(
    () => loadImageFolder(single, { size: 8, channels: 3, cacheDir: false }),
    single,
    /one class folder only \(only\).*at least two/,
  );
  const flat = fresh();
  write(join(flat, '1.png'), encodePng(solid(4, 4, [0])));
  expectDataError(
    () => loadImageFolder(flat, { size: 8, channels: 3, cacheDir: false }),
    flat,
    /holds no class folders/,
  );
  expectDataError(
    () => loadImageFolder(join(flat, 'missing'), { size: 8, channels: 3, cacheDir: false }),
    join(flat, 'missing'),
    /does not exist/,
  );
});

test('bad input: mixed channel counts get a notice naming a file of each; all become the model channels', () => {
  const dir = fresh();
  makeFolder(dir, ['a', 'b'], 2);
  write(join(dir, 'b', 'gray.png'), encodePng(solid(8, 8, [50])));
  const notices: string[] = [];
  const data = loadImageFolder(dir, { size: 8, channels: 3, cacheDir: false, onNotice: (m) => notices.push(m) });
  const notice = notices.find((n) => /mixed channel counts/.test(n));
  assert.ok(notice, notices.join('\n'));
  assert.match(notice!, /1 gray picture \(first: b\/gray\.png\) and 4 in color/);
  assert.is(data.train.count + data.test.count, 5);
});

test('bad input: symbolic-link loops are named, not followed forever', () => {
  const dir = fresh();
  makeFolder(dir, ['a', 'b'], 2);
  symlinkSync(join(dir, 'a'), join(dir, 'a', 'again'));
  expectDataError(
    () => loadImageFolder(dir, { size: 8, channels: 3, cacheDir: false }),
    join(dir, 'a', 'again'),
    /symbolic link back to/,
  );
  const self = fresh();
  makeFolder(self, ['a', 'b'], 2);
  symlinkSync(join(self, 'b', 'loop.png'), join(self, 'b', 'loop.png'));
  expectDataError(
    () => loadImageFolder(self, { size: 8, channels: 3, cacheDir: false }),
    join(self, 'b', 'loop.png'),
    /symbolic link loop/,
  );
});

test('bad input: test classes the training split lacks are named', () => {
  const dir = fresh();
  makeFolder(join(dir, 'train'), ['a', 'b'], 2);
  makeFolder(join(dir, 'test'), ['a', 'q'], 1);
  expectDataError(() => loadImageFolder(dir, { size: 8, channels: 3, cacheDir: false }), join(dir, 'test'), /lacks: q/);
});

test('a large folder gets a notice that the first read takes a while (threshold lowered for the test)', () => {
  const dir = fresh();
  makeFolder(dir, ['a', 'b'], 3);
  const notices: string[] = [];
  loadImageFolder(dir, {
    size: 8,
    channels: 1,
    cacheDir: false,
    onNotice: (m) => notices.push(m),
    largeFolderFiles: 5,
  });
  assert.ok(notices.some((n) => /6 files; decoding them takes a while the first time/.test(n)), notices.join('\n'));
});

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();
