// The whole network's gradients against the float64 reference, with a tolerance that float32 rounding
// of the batch at hand earns (network.test.ts and plans.test.ts share it).
import * as assert from 'uvu/assert';
import type { ParameterLayout } from '../../src/nn/parameters.ts';
import { type ModelSpec, type ResolvedLayer, shapeSize } from '../../src/nn/spec.ts';
import { dropoutMaskReference } from '../../src/reference/dropout.ts';
import { networkReference, type NetworkReferenceOptions } from '../../src/reference/network.ts';
import type { Rng } from '../../src/util/random.ts';
import { assertClose, relativeError } from '../helpers/compare.ts';

/**
 * How far float32 rounding alone moves each gradient of this batch: the reference again, with every
 * parameter and every tensor the GPU stores between layers nudged by u = 2^-24 of itself (random sign),
 * as float32 rounds them. Most gradients move by ~1e-6; some batches far more, where a sum cancels
 * (batch norm's backward) or batch norm divides by a tiny batch-of-3 spread, magnifying its input's
 * rounding. The GPU also rounds inside every sum (products, partial sums: a few to log2(n) roundings
 * per stored value, adding in quadrature). On `fast` at batch 3 over 201 seeds, the GPU's error was a
 * median 3.3 times this measure, 10 at the 99th percentile and 32 at most, so it is allowed
 * SENSITIVITY_MARGIN = 64 times it, and never less than 1e-4, the bound that holds for well-conditioned
 * gradients (a wrong kernel is off by 1e-2 or more).
 */
export function roundingSensitivity(
  model: ModelSpec,
  params: ReadonlyMap<string, Float32Array>,
  pixels: Uint8Array,
  labels: Uint32Array,
  options: NetworkReferenceOptions,
  expected: ReadonlyMap<string, Float64Array>,
  rng: Rng,
): Map<string, number> {
  const nudge = (x: number) => x * (1 + (rng.int(2) ? 1 : -1) * 2 ** -24);
  const nudged = new Map([...params].map(([name, v]) => [name, Float64Array.from(v, nudge)]));
  const moved = networkReference(model, nudged, pixels, labels, { ...options, perturb: (v) => v.map(nudge) }).gradients;
  return new Map([...expected].map(([name, g]) => [name, relativeError(moved.get(name)!, g)]));
}
/** The GPU's error is allowed this many times the rounding sensitivity (see roundingSensitivity). */
export const SENSITIVITY_MARGIN = 64;

/** Batch norm starting at weight 1, bias 0 would leave those gradients untested in their scale: perturb them. */
export function perturbInitialized(layout: ParameterLayout, flat: Float32Array, rng: Rng): void {
  for (const slot of layout.slots) {
    if (slot.init && !slot.buffer) {
      for (let i = 0; i < slot.count; i++) flat[slot.offset + i] += rng.uniform(-0.5, 0.5);
    }
  }
}

/** Dropout's masks as the GPU draws them at (seed, step), checked bit for bit in test/kernels/dropout.test.ts. */
export function dropoutMasksAt(
  layers: readonly ResolvedLayer[],
  batch: number,
  seed: number,
  step: number,
): Map<number, ArrayLike<number>> {
  return new Map(
    layers.flatMap((layer, i) =>
      layer.spec.kind === 'dropout'
        ? [
          [
            i,
            dropoutMaskReference(batch * shapeSize(layer.outShape), { p: layer.spec.p, seed, step, salt: i }),
          ] as const,
        ]
        : []
    ),
  );
}

/** Every trainable parameter's gradient within its tolerance (near-zero gradients: near zero). */
export function assertGradients(
  what: string,
  layout: ParameterLayout,
  grads: ReadonlyMap<string, Float32Array>,
  expected: ReadonlyMap<string, Float64Array>,
  sensitivity: ReadonlyMap<string, number>,
): void {
  for (const slot of layout.slots.filter((s) => !s.buffer)) {
    const want = expected.get(slot.name)!;
    const got = grads.get(slot.name)!;
    const norm = Math.sqrt(want.reduce((a, v) => a + v * v, 0));
    // A bias right before batch norm has a zero gradient (the mean is subtracted): rounding noise on both sides.
    if (norm < 1e-9) {
      const scale = Math.max(
        ...[...expected.values()].map((g) => g.reduce((m, v) => Math.max(m, Math.abs(v)), 0)),
      );
      assert.ok(got.every((v) => Math.abs(v) < 1e-4 * scale), `${what}: gradient of ${slot.name} should be ~0`);
    } else {
      const tolerance = Math.max(1e-4, SENSITIVITY_MARGIN * sensitivity.get(slot.name)!);
      assertClose(got, want, `${what}: gradient of ${slot.name}`, tolerance);
    }
  }
}
