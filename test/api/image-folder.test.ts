// The library's side of image folders: loadImageFolder and datasetFromArrays from the package entry.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { datasetFromArrays, loadImageFolder } from '../../src/mod.ts';
import { encodePng } from '../../src/io/png.ts';

const test = suite('api: image folders');

test('datasetFromArrays: planar images, one array or one per image, with their own normalization', () => {
  // Two 3x1x2 images: channel planes of 2 pixels.
  const images = Uint8Array.of(0, 255, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255);
  const data = datasetFromArrays(images, [1, 0], { shape: [3, 1, 2], classNames: ['a', 'b'] });
  assert.equal([data.count, data.channels, data.rows, data.cols], [2, 3, 1, 2]);
  assert.equal(data.classes, ['a', 'b']);
  assert.equal(data.normalization!.mean, [0.5, 0, 1]);
  assert.equal(data.normalization!.std, [0.5, 1, 1], 'constant channels get std 1');
  const split = datasetFromArrays([images.subarray(0, 6), images.subarray(6)], Uint8Array.of(1, 0), {
    shape: [3, 1, 2],
  });
  assert.equal([...split.images], [...images]);
});

test('datasetFromArrays: sizes, labels and shapes that do not fit are refused by name', () => {
  assert.throws(
    () => datasetFromArrays(new Uint8Array(10), [0], { shape: [3, 2, 2] }),
    /10 bytes is not a whole number of 3x2x2 images/,
  );
  assert.throws(() => datasetFromArrays(new Uint8Array(12), [0, 1], { shape: [3, 2, 2] }), /2 labels for 1 images/);
  assert.throws(
    () => datasetFromArrays(new Uint8Array(4), [2], { shape: [1, 2, 2], classNames: ['a', 'b'] }),
    /label 0 is 2, outside 0-1/,
  );
  assert.throws(() => datasetFromArrays(new Uint8Array(8), [0], { shape: [2, 2, 2] }), /shape must be \[1 or 3/);
  assert.throws(() => datasetFromArrays([new Uint8Array(3)], [0], { shape: [1, 2, 2] }), /image 0 has 3 bytes, not 4/);
});

test('loadImageFolder from the package entry: the README example', () => {
  const dir = mkdtempSync(join(tmpdir(), 'api-folder-'));
  try {
    for (const [name, value] of [['cats', 30], ['dogs', 220]] as const) {
      mkdirSync(join(dir, name));
      for (let i = 0; i < 5; i++) {
        const pixels = new Uint8Array(10 * 10 * 3).fill(value + i);
        writeFileSync(join(dir, name, `${i}.png`), encodePng({ width: 10, height: 10, channels: 3, pixels }));
      }
    }
    const { train, test, classes, normalization } = loadImageFolder(dir, {
      size: 8,
      channels: 3,
      testFraction: 0.2,
      seed: 1,
      cacheDir: false,
    });
    assert.equal(classes, ['cats', 'dogs']);
    assert.equal([train.count, test.count], [8, 2]);
    assert.is(train.normalization, normalization);
    assert.equal(test.normalization, normalization, 'the test split is normalized with the training statistics');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
