// GPU random affine augmentation against its float64 reference (the same Philox draw per image), and
// that the identity transform gives normalize's values.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { augmentAffine, DEFAULT_AUGMENT } from '../../src/kernels/augment.ts';
import { RNG_UNIFORM_BYTES, rngUniforms } from '../../src/kernels/dropout.ts';
import { augmentReference } from '../../src/reference/augment.ts';
import { normalizeReference } from '../../src/reference/normalize.ts';
import { MNIST_MEAN, MNIST_STD } from '../../src/util/shapes.ts';
import { Rng } from '../../src/util/random.ts';
import { createUniformBuffer, writeBuffer } from '../../src/gpu/buffers.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import { checkKernel } from '../helpers/kernel.ts';
import { testSeed } from '../helpers/compare.ts';
import { testSplit } from '../helpers/mnist.ts';

const test = suite('augment');

const packed = (bytes: Uint8Array) => {
  const words = new Uint32Array(Math.ceil(bytes.length / 4));
  new Uint8Array(words.buffer).set(bytes);
  return words;
};

test('random affine of MNIST digits matches the reference', async () => {
  const seed = testSeed();
  const gpu = await sharedGpu();
  const data = await testSplit('test');
  const batch = 7;
  const pixels = data.images.slice(0, batch * 784);
  const step = new Rng(seed).int(10000);
  const shape = { batch, channels: 1, height: 28, width: 28 };
  const expected = augmentReference(shape, DEFAULT_AUGMENT, pixels, seed, step).map((v) =>
    (v / 255 - MNIST_MEAN) / MNIST_STD
  );
  await checkKernel(gpu, {
    what: `seed ${seed} step ${step}`,
    inputs: { pixels: packed(pixels) },
    outputs: { out: batch * 784 },
    dispatch: (b) => augmentAffine(gpu, shape, DEFAULT_AUGMENT, uniforms(gpu, seed, step), b.pixels, b.out),
    expected: { out: expected },
    // f32 trigonometry moves sample points by ~1e-6 pixel; bilinear weights follow.
    tolerance: 1e-4,
  });
  const changed = expected.filter((v, i) => Math.abs(v - normalizeReference(pixels)[i]) > 0.1).length;
  assert.ok(changed > batch * 50, `the transform moves pixels (${changed} changed)`);
});

test('odd sizes, 3 channels (one transform per image), and the identity equals normalize', async () => {
  const seed = testSeed();
  const gpu = await sharedGpu();
  const rng = new Rng(seed);
  const shape = { batch: 3, channels: 3, height: 9, width: 13 };
  const pixels = new Uint8Array(3 * 3 * 9 * 13).map(() => rng.int(256));
  const normalize = (v: number) => (v / 255 - MNIST_MEAN) / MNIST_STD;
  const options = { rotation: 30, minScale: 0.8, maxScale: 1.25, shift: 3 };
  await checkKernel(gpu, {
    what: `odd seed ${seed}`,
    inputs: { pixels: packed(pixels) },
    outputs: { out: pixels.length },
    dispatch: (b) => augmentAffine(gpu, shape, options, uniforms(gpu, seed, 5), b.pixels, b.out),
    expected: { out: augmentReference(shape, options, pixels, seed, 5).map(normalize) },
    tolerance: 1e-4,
  });
  const identity = { rotation: 0, minScale: 1, maxScale: 1, shift: 0 };
  await checkKernel(gpu, {
    what: `identity seed ${seed}`,
    inputs: { pixels: packed(pixels) },
    outputs: { out: pixels.length },
    dispatch: (b) => augmentAffine(gpu, shape, identity, uniforms(gpu, seed, 5), b.pixels, b.out),
    expected: { out: normalizeReference(pixels) },
    tolerance: 1e-6,
  });
});

test.run();

/** The seed/step uniform block as a uniform buffer (the kernel helper uploads storage buffers only). */
function uniforms(gpu: Awaited<ReturnType<typeof sharedGpu>>, seed: number, step: number): GPUBuffer {
  const buffer = createUniformBuffer(gpu, 'rng', RNG_UNIFORM_BYTES);
  writeBuffer(gpu, buffer, rngUniforms(seed, step));
  return buffer;
}
