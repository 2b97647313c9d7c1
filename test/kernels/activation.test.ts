// The smooth activations (gelu, silu, leakyrelu, tanh, sigmoid) on the GPU against their float64
// reference, forward and backward, at sizes with partial invocations and workgroups, with large |x|
// (where a naive tanh or exp overflows) and exact zeros (leaky ReLU's kink).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { activationBackward, activationForward, ACTIVATIONS } from '../../src/kernels/activation.ts';
import { activationBackwardReference, activationForwardReference } from '../../src/reference/activation.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import { Rng } from '../../src/util/random.ts';
import { f32Buffer, POISON_BITS, poisonedBuffer, readF32, readU32, sharedGpu } from '../helpers/gpu.ts';
import { assertClose, testSeed } from '../helpers/compare.ts';

const test = suite('activation');

function inputs(rng: Rng, count: number): Float32Array {
  const x = rng.f32(count, -4, 4);
  for (let i = 0; i < count; i += 11) x[i] = i % 22 === 0 ? 0 : (i % 3 === 0 ? 60 : -60);
  return x;
}

const COUNTS = [1, 5, 513, 4099];

for (const fn of ACTIVATIONS) {
  const options = { fn, slope: fn === 'leakyrelu' ? 0.2 : undefined };
  for (const count of COUNTS) {
    test(`${fn}: forward and backward match the reference, ${count} elements`, async () => {
      const seed = testSeed();
      const gpu = await sharedGpu();
      const rng = new Rng(seed);
      const x = inputs(rng, count);
      const g = rng.f32(count);
      const input = f32Buffer(gpu, 'activation input', x);
      const output = poisonedBuffer(gpu, 'activation output', count + 5);
      const gradOutput = f32Buffer(gpu, 'activation grad output', g);
      const gradInput = poisonedBuffer(gpu, 'activation grad input', count + 5);
      try {
        submitDispatches(gpu, [
          ...(await activationForward(gpu, count, options, input, output)),
          ...(await activationBackward(gpu, count, options, input, gradOutput, gradInput)),
        ]);
        const what = `${fn} count=${count} seed=${seed}`;
        assertClose(
          await readF32(gpu, output, count),
          activationForwardReference(options, x),
          `${what}: forward`,
          1e-5,
        );
        assertClose(
          await readF32(gpu, gradInput, count),
          activationBackwardReference(options, x, g),
          `${what}: backward`,
          1e-5,
        );
        for (const buffer of [output, gradInput]) {
          for (const bits of await readU32(gpu, buffer, 5, count * 4)) assert.is(bits, POISON_BITS, 'wrote past count');
        }
      } finally {
        for (const b of [input, output, gradOutput, gradInput]) b.destroy();
      }
    });
  }
}

test.run();
