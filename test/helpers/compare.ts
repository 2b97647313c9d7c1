// Comparisons used by every kernel test: relative L2 error, with NaN/Inf never passing.
import * as assert from 'uvu/assert';

/** ‖actual − expected‖₂ / ‖expected‖₂ computed in float64; Infinity if actual holds a NaN or Inf. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < actual.length; i++) {
    if (!Number.isFinite(actual[i])) return Infinity;
    const d = actual[i] - expected[i];
    diff += d * d;
    norm += expected[i] * expected[i];
  }
  if (norm === 0) return diff === 0 ? 0 : Infinity;
  return Math.sqrt(diff / norm);
}

/**
 * A float64 reference as an f32 kernel can at best return it: rounded to f32, and below the smallest
 * normal f32 (2^-126) zero, since GPUs may flush subnormals. Compare against this where the exact value
 * can underflow (a confident sample's loss of 1e-136, say), or the relative error is 1 for nothing.
 */
export function asF32(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values, (v) => (Math.abs(v) < 2 ** -126 ? 0 : Math.fround(v)));
}

export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  tolerance = 1e-5,
): void {
  const error = relativeError(actual, expected);
  assert.ok(error < tolerance, `${what}: relative error ${error} >= ${tolerance}`);
}

export function assertExactlyEqual(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) assert.unreachable(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}

/** A fresh seed per test, printed in failure messages so a failure can be replayed. */
export function testSeed(): number {
  const fixed = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.TEST_SEED;
  return fixed ? Number(fixed) : (Math.random() * 0x100000000) >>> 0;
}

/** Awaits `call` and asserts it rejects (or throws) with a message matching `pattern`. */
export async function assertRejects(call: () => unknown, pattern: RegExp): Promise<void> {
  try {
    await call();
  } catch (err) {
    assert.match((err as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected an error matching ${pattern}`);
}

/** Calls `fn` and asserts it throws an instance of `type` whose message matches `pattern`. */
export function assertThrows(fn: () => unknown, type: abstract new (...args: never[]) => Error, pattern: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, type);
    assert.match((err as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a ${type.name} matching ${pattern}`);
}

/**
 * Central finite differences (f(v + h) - f(v - h)) / 2h of `loss` with respect to each element of
 * `values`, which `loss` reads: each element is nudged in place and restored.
 */
export function numericGradient(
  values: { length: number; [i: number]: number },
  loss: () => number,
  h: number,
): Float64Array {
  return Float64Array.from({ length: values.length }, (_, i) => {
    const saved = values[i];
    values[i] = saved + h;
    const up = loss();
    values[i] = saved - h;
    const down = loss();
    values[i] = saved;
    return (up - down) / (2 * h);
  });
}
