// dropout and its Philox4x32-10 generator: the reference against the published known-answer vectors,
// the GPU mask bit-identical to the reference's, the keep rate near 1 - p, new masks per step and layer.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import { dropoutBackward, dropoutForward, RNG_UNIFORM_BYTES, rngUniforms } from '../../src/kernels/dropout.ts';
import { dropoutApplyReference, dropoutMaskReference } from '../../src/reference/dropout.ts';
import { philox4x32 } from '../../src/reference/philox.ts';
import { createUniformBuffer, writeBuffer } from '../../src/gpu/buffers.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import { checkKernel } from '../helpers/kernel.ts';
import { assertClose, assertRejects, numericGradient, testSeed } from '../helpers/compare.ts';
import { f32Buffer } from '../helpers/gpu.ts';

const test = suite('dropout');

test("Philox4x32-10 reference gives Random123's known answers", () => {
  const hex = (words: number[]) => words.map((w) => w.toString(16).padStart(8, '0')).join(' ');
  assert.is(hex(philox4x32([0, 0, 0, 0], [0, 0])), '6627e8d5 e169c58d bc57ac4c 9b00dbd8');
  assert.is(
    hex(philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff])),
    '408f276d 41c83b0e a20bc7c6 6d5451fd',
  );
  assert.is(
    hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])),
    'd16cfe09 94fdcceb 5001e420 24126ea1',
  );
});

const CASES: [number, number][] = [[1, 0.5], [5, 0.1], [63, 0.25], [64 * 128 + 3, 0.5], [3 * 16 * 14 * 14, 0.2], [
  100,
  0,
]];

for (const [count, p] of CASES) {
  test(`forward and backward match the reference bit for bit: ${count} elements, p ${p}`, async () => {
    const seed = testSeed();
    const gpu = await sharedGpu();
    const rng = new Rng(seed);
    const x = rng.f32(count, -2, 2);
    const gy = rng.f32(count);
    const step = rng.int(100000);
    const salt = rng.int(16);
    const mask = dropoutMaskReference(count, { p, seed, step, salt });
    await checkKernel(gpu, {
      what: `count ${count} p ${p} seed ${seed} step ${step}`,
      inputs: { x, gy },
      outputs: { y: count, mask: count, gx: count },
      dispatch: async (b) => [
        ...(await dropoutForward(gpu, count, { p, salt }, uniforms(gpu, seed, step), b.x, b.y, b.mask)),
        ...(await dropoutBackward(gpu, count, b.gy, b.mask, b.gx)),
      ],
      expected: {
        y: Float32Array.from(dropoutApplyReference(x, mask)),
        mask: Float32Array.from(mask),
        gx: Float32Array.from(dropoutApplyReference(gy, mask)),
      },
      tolerance: 'exact',
    });
  });
}

test('keeps about 1 - p; masks differ between steps and layers', () => {
  const count = 20000;
  const kept = (m: Float64Array) => m.filter((v) => v !== 0).length / count;
  const a = dropoutMaskReference(count, { p: 0.3, seed: 1, step: 1, salt: 0 });
  assert.ok(Math.abs(kept(a) - 0.7) < 0.015, `kept ${kept(a)}`);
  const b = dropoutMaskReference(count, { p: 0.3, seed: 1, step: 2, salt: 0 });
  const c = dropoutMaskReference(count, { p: 0.3, seed: 1, step: 1, salt: 1 });
  const same = (u: Float64Array, v: Float64Array) => u.filter((x, i) => (x !== 0) === (v[i] !== 0)).length / count;
  assert.ok(
    same(a, b) < 0.65 && same(a, c) < 0.65,
    'masks of other steps or layers look independent (agreement ~0.58)',
  );
});

test('the backward is the derivative of the forward for a fixed mask (finite differences)', () => {
  const mask = dropoutMaskReference(30, { p: 0.5, seed: 3, step: 4, salt: 0 });
  const rng = new Rng(testSeed());
  const x = Array.from({ length: 30 }, () => rng.uniform(-1, 1));
  const w = Array.from({ length: 30 }, () => rng.uniform(-1, 1));
  const loss = () => dropoutApplyReference(x, mask).reduce((s, v, i) => s + w[i] * v, 0);
  assertClose(dropoutApplyReference(w, mask), numericGradient(x, loss, 1e-6), 'dropout backward', 1e-8);
});

test('p outside [0, 1) and small bindings are refused', async () => {
  const gpu = await sharedGpu();
  const big = f32Buffer(gpu, 'big', new Float32Array(64));
  const small = f32Buffer(gpu, 'small', new Float32Array(4));
  await assertRejects(() => dropoutForward(gpu, 8, { p: 1, salt: 0 }, big, big, big, big), /p must be in \[0, 1\)/);
  await assertRejects(() => dropoutForward(gpu, 8, { p: 0.5, salt: 0 }, big, big, small, big), /output needs 8 words/);
  big.destroy();
  small.destroy();
});

test.run();

/** The seed/step uniform block as a uniform buffer (the kernel helper uploads storage buffers only). */
function uniforms(gpu: Awaited<ReturnType<typeof sharedGpu>>, seed: number, step: number): GPUBuffer {
  const buffer = createUniformBuffer(gpu, 'rng', RNG_UNIFORM_BYTES);
  writeBuffer(gpu, buffer, rngUniforms(seed, step));
  return buffer;
}
