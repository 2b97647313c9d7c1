import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import { MNIST_MEAN, MNIST_STD, normalizationConstants, normalize } from '../../src/kernels/normalize.ts';
import { createPackedMatrix, packMatrix, texelsPerRow } from '../../src/kernels/layout.ts';
import { normalizeChannelsReference, normalizeReference } from '../../src/reference/normalize.ts';
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

// Color inputs: a mean and std per channel, planes of H*W pixels, image after image.
const COLOR = { mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26] };
for (const [channels, plane, images] of [[3, 32 * 32, 5], [3, 7, 3], [2, 5, 4], [1, 9, 2]]) {
  test(`per-channel normalize, ${channels} channels of ${plane} pixels, ${images} images`, async () => {
    const seed = testSeed();
    const gpu = await sharedGpu();
    const rng = new Rng(seed);
    const count = channels * plane * images;
    const pixels = new Uint8Array(count).map(() => rng.int(256));
    const normalization = { mean: COLOR.mean.slice(0, channels), std: COLOR.std.slice(0, channels) };
    const input = createStorageBuffer(gpu, 'pixels', count);
    writeBuffer(gpu, input, pixels);
    const output = poisonedBuffer(gpu, 'normalized', count);
    submitDispatches(gpu, [await normalize(gpu, { count, normalization, plane }, input, output)]);
    const actual = await readF32(gpu, output, count);
    assertClose(actual, normalizeChannelsReference(pixels, normalization, plane), `channels=${channels} seed=${seed}`);
    // pack_texture's pixel path computes the same, bit for bit.
    const rows = count / 4 >= 1 && count % 4 === 0 ? count / 4 : count;
    const k = count / rows;
    const packed = [createPackedMatrix(gpu, 'direct', rows, k), createPackedMatrix(gpu, 'two-step', rows, k)];
    submitDispatches(gpu, [
      await packMatrix(gpu, { rows, k, normalizePixels: { ...normalization, plane } }, input, packed[0]),
      await packMatrix(gpu, { rows, k }, output, packed[1]),
    ]);
    const [a, b] = [await readTexture(gpu, packed[0].texture), await readTexture(gpu, packed[1].texture)];
    const written = rows * texelsPerRow(k) * 4;
    assertExactlyEqual(a.subarray(0, written), b.subarray(0, written), `packed channels=${channels} seed=${seed}`);
    input.destroy();
    output.destroy();
    for (const t of packed) t.texture.destroy();
  });
}

test('one channel with MNIST constants sets the pipeline constants it always did', () => {
  assert.equal(normalizationConstants({ mean: [MNIST_MEAN], std: [MNIST_STD], plane: 784 }), {
    MEAN: MNIST_MEAN,
    STD: MNIST_STD,
  });
  assert.throws(() => normalizationConstants({ mean: [0, 0], std: [1, 0], plane: 4 }), /positive stds/);
});

test.run();
