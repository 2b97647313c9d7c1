import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import { normalize } from '../../src/kernels/normalize.ts';
import { normalizeReference } from '../../src/reference/normalize.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import { writeBuffer, createStorageBuffer } from '../../src/gpu/buffers.ts';
import { poisonedBuffer, readF32, sharedGpu } from '../helpers/gpu.ts';
import { assertClose, testSeed } from '../helpers/compare.ts';

const test = suite('normalize');

for (const count of [1, 3, 784, 784 * 3 + 5, 64 * 784]) {
  test(`uint8 -> normalized f32, ${count} pixels`, async () => {
    const seed = testSeed();
    const gpu = await sharedGpu();
    const rng = new Rng(seed);
    const pixels = new Uint8Array(count).map(() => rng.int(256));
    if (count > 2) { pixels[0] = 0; pixels[1] = 255; }
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

test.run();
