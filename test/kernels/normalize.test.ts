import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import { MNIST_MEAN, MNIST_STD, normalize } from '../../src/kernels/normalize.ts';
import { createPackedMatrix, packMatrix, texelsPerRow } from '../../src/kernels/layout.ts';
import { normalizeReference } from '../../src/reference/normalize.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import { createStorageBuffer, writeBuffer } from '../../src/gpu/buffers.ts';
import { poisonedBuffer, poisonTexture, readF32, readTexture, sharedGpu } from '../helpers/gpu.ts';
import { assertClose, assertExactlyEqual, testSeed } from '../helpers/compare.ts';

const test = suite('normalize');

for (const count of [1, 3, 784, 784 * 3 + 5, 64 * 784]) {
  test(`uint8 -> normalized f32, ${count} pixels`, async () => {
    const seed = testSeed();
    const gpu = await sharedGpu();
    const rng = new Rng(seed);
    const pixels = new Uint8Array(count).map(() => rng.int(256));
    if (count > 2) {
      pixels[0] = 0;
      pixels[1] = 255;
    }
    const input = createStorageBuffer(gpu, 'pixels', count);
    writeBuffer(gpu, input, pixels);
    const output = poisonedBuffer(gpu, 'normalized', count);
    submitDispatches(gpu, [await normalize(gpu, { count }, input, output)]);
    const actual = await readF32(gpu, output, count);
    assertClose(actual, normalizeReference(pixels), `normalize count=${count} seed=${seed}`);
    input.destroy();
    output.destroy();
  });
}

test('elements past COUNT are not written', async () => {
  const gpu = await sharedGpu();
  const input = createStorageBuffer(gpu, 'pixels', 8);
  writeBuffer(gpu, input, new Uint8Array(8).fill(255));
  const output = poisonedBuffer(gpu, 'normalized', 8);
  submitDispatches(gpu, [await normalize(gpu, { count: 5 }, input, output)]);
  const actual = await readF32(gpu, output, 8);
  for (let i = 5; i < 8; i++) assert.ok(Number.isNaN(actual[i]), `element ${i} was written`);
});

// Forward-only networks pack conv1's input straight from the pixels (pack_texture with PIXELS): it must
// hold exactly what normalize writes, packed: rows of 28, and an odd width with a ragged last texel.
for (const [rows, k] of [[3 * 28, 28], [5, 13]]) {
  test(`packMatrix from pixels equals normalize then packMatrix bit for bit, ${rows} rows of ${k}`, async () => {
    const seed = testSeed();
    const gpu = await sharedGpu();
    const rng = new Rng(seed);
    const pixels = new Uint8Array(rows * k).map(() => rng.int(256));
    pixels[0] = 0;
    pixels[1] = 255;
    const input = createStorageBuffer(gpu, 'pixels', pixels.length);
    writeBuffer(gpu, input, pixels);
    const normalized = poisonedBuffer(gpu, 'normalized', pixels.length);
    const [direct, twoStep] = [
      createPackedMatrix(gpu, 'direct', rows + 1, k),
      createPackedMatrix(gpu, 'two-step', rows + 1, k),
    ];
    for (const t of [direct, twoStep]) poisonTexture(gpu, t.texture);
    submitDispatches(gpu, [
      await packMatrix(gpu, { rows, k, normalizePixels: { mean: MNIST_MEAN, std: MNIST_STD } }, input, direct),
      await normalize(gpu, { count: pixels.length }, input, normalized),
      await packMatrix(gpu, { rows, k }, normalized, twoStep),
    ]);
    const [a, b] = [await readTexture(gpu, direct.texture), await readTexture(gpu, twoStep.texture)];
    const written = rows * texelsPerRow(k) * 4;
    assertExactlyEqual(a.subarray(0, written), b.subarray(0, written), `${rows}x${k} seed=${seed}`);
    assert.ok(a.subarray(written).every(Number.isNaN), 'the spare row was written');
    input.destroy();
    normalized.destroy();
    for (const t of [direct, twoStep]) t.texture.destroy();
  });
}

test.run();
