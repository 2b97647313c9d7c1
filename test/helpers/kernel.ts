// One way to test a kernel, in the spirit of tinygrad's helper_test_op: upload the inputs, poison the
// outputs (so an element the kernel forgets stays NaN), dispatch, read back, compare every output with
// its float64 reference (relative L2 error, or exactly), NaN where the reference has NaN, and destroy
// every buffer whatever happens.
import * as assert from 'uvu/assert';
import type { Gpu } from '../../src/gpu/device.ts';
import { type Dispatch, submitDispatches } from '../../src/gpu/kernel.ts';
import { f32Buffer, poisonedBuffer, readF32, readU32, u32Buffer } from './gpu.ts';
import { relativeError } from './compare.ts';

export interface KernelCheck<I extends string, O extends string> {
  /** Names the case in failure messages (shape, options, seed). */
  what: string;
  /** Input arrays: a Uint32Array is uploaded as u32 words, anything else as f32. */
  inputs: Record<I, ArrayLike<number>>;
  /** Output buffers by their size in 32-bit words, poisoned before the dispatch. */
  outputs: Record<O, number>;
  dispatch: (buffers: Record<I | O, GPUBuffer>) => Promise<Dispatch | Dispatch[]>;
  /** The reference of each output; a Uint32Array is compared with u32 words read back. */
  expected: Record<O, ArrayLike<number>>;
  /** Relative L2 error bound per output (default 1e-5), or 'exact' for bit-for-bit agreement. */
  tolerance?: number | 'exact' | Partial<Record<O, number | 'exact'>>;
}

/** Runs one kernel case; returns what each output read back. */
export async function checkKernel<I extends string, O extends string>(
  gpu: Gpu,
  c: KernelCheck<I, O>,
): Promise<Record<O, Float32Array | Uint32Array>> {
  const buffers = {} as Record<I | O, GPUBuffer>;
  try {
    for (const [name, data] of Object.entries(c.inputs) as [I, ArrayLike<number>][]) {
      buffers[name] = data instanceof Uint32Array ? u32Buffer(gpu, name, data) : f32Buffer(gpu, name, data);
    }
    for (const [name, words] of Object.entries(c.outputs) as [O, number][]) {
      buffers[name] = poisonedBuffer(gpu, name, words);
    }
    const dispatched = await c.dispatch(buffers);
    submitDispatches(gpu, Array.isArray(dispatched) ? dispatched : [dispatched]);
    const actual = {} as Record<O, Float32Array | Uint32Array>;
    for (const [name, words] of Object.entries(c.outputs) as [O, number][]) {
      const expected = c.expected[name];
      actual[name] = expected instanceof Uint32Array
        ? await readU32(gpu, buffers[name], words)
        : await readF32(gpu, buffers[name], words);
      const tolerance = typeof c.tolerance === 'object' ? c.tolerance[name] : c.tolerance;
      assertMatches(actual[name], expected, `${c.what}: ${name}`, tolerance ?? 1e-5);
    }
    return actual;
  } finally {
    for (const buffer of Object.values(buffers) as GPUBuffer[]) buffer.destroy();
  }
}

/** `actual` against `expected`: NaN exactly where expected has NaN, the rest exactly or within `tolerance`. */
export function assertMatches(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  tolerance: number | 'exact',
): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  const finiteActual: number[] = [];
  const finiteExpected: number[] = [];
  for (let i = 0; i < expected.length; i++) {
    if (Number.isNaN(expected[i]) !== Number.isNaN(actual[i])) {
      assert.unreachable(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
    if (Number.isNaN(expected[i])) continue;
    if (tolerance === 'exact' && !Object.is(actual[i], expected[i]) && actual[i] !== expected[i]) {
      assert.unreachable(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
    finiteActual.push(actual[i]);
    finiteExpected.push(expected[i]);
  }
  if (tolerance !== 'exact') {
    const error = relativeError(finiteActual, finiteExpected);
    assert.ok(error < tolerance, `${what}: relative error ${error} >= ${tolerance}`);
  }
}
