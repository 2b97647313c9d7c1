// The tuner: for this device and a model's real shapes, times candidate tile configurations of each op
// (each node's forward, weight gradient and input gradient) and keeps the fastest valid one. Each
// candidate's output is checked before it is timed: on a CPU driver it must equal the default
// configuration's bit for bit, so a tuned run trains exactly as an untuned one; on a GPU it must agree
// with the buffer kernels' plan (relative L2 error < 1e-4). Timed with timestamp queries where the
// device has them, else on the host (src/gpu/profiler.ts), median of repeats. Choice is deterministic
// given the timings: candidates in a fixed order, the default first, a candidate replaces the best only
// when more than 3 % faster, and the winner is kept only if, timed again alternately with the default
// (3 rounds, medians), it still is: one lucky sample on a noisy machine does not make a winner.
// Time-bounded: each op gets an equal share of what is left of the budget.
import type { Gpu } from '../gpu/device.ts';
import { readF32 } from '../gpu/buffers.ts';
import { type Dispatch, submitDispatches } from '../gpu/kernel.ts';
import { profileDispatches } from '../gpu/profiler.ts';
import { type DeviceProfile, deviceProfile } from '../gpu/profile.ts';
import { GEMM_TILE_CANDIDATES } from '../kernels/gemm_tiles.ts';
import { dispatchesOf, Network } from '../nn/network.ts';
import { initParameters } from '../nn/parameters.ts';
import type { TileRole } from '../nn/layers/index.ts';
import { buildPlan, planNetwork } from '../nn/planner.ts';
import { type ModelSpec, shapeSize } from '../nn/spec.ts';
import { Rng } from '../util/random.ts';
import type { TunedPlan } from './cache.ts';

/** One role's tiles as numbers by name: what the tune cache records over a kernel's defaults. */
type Tiles = Record<string, number>;

export interface TuneOptions {
  /** Seconds this plan may take (compiling included); ops left when it runs out keep their defaults. */
  budgetSeconds: number;
  /** Timing repeats per candidate (median). */
  repeats?: number;
  log?: (line: string) => void;
  /** Tune only these ops (`<node>.<role>`); default: all. */
  only?: string[];
  /** Milliseconds one run of `dispatches` takes; by default measured (tests give their own, to fix the choice). */
  time?: (dispatches: Dispatch[]) => Promise<number>;
}

export interface RoleResult {
  op: string;
  variant: string;
  defaultMs: number;
  chosen: Tiles | null;
  chosenMs: number;
  tried: number;
  rejected: number;
}

export interface TuneResult {
  plan: TunedPlan;
  roles: RoleResult[];
  /** Ops the budget left untried. */
  skipped: string[];
}

/** More than this much faster, or the earlier candidate (the default first) stays. */
const MARGIN = 0.97;
const GPU_TOLERANCE = 1e-4;

/**
 * Candidate tiles of one op, the default excluded: the GPU-class kernels' list (gemm_tiles.ts) and
 * split counts; for today's kernels, each numeric field of the default halved and doubled.
 */
export function candidateTiles(variant: string, role: TileRole, defaults: Tiles): Tiles[] {
  const out: Tiles[] = [];
  if (variant === 'tiled' || variant === 'tiled-gemm') {
    for (const c of GEMM_TILE_CANDIDATES) out.push(defaults.splits ? { ...c, splits: defaults.splits } : { ...c });
    if (role === 'backwardWeight' && variant === 'tiled-gemm') {
      for (const splits of [1, 4, 16, 64, 256]) out.push({ ...defaults, splits });
    }
  } else {
    for (const [key, value] of Object.entries(defaults)) {
      for (const v of [Math.floor(value / 2), value * 2]) {
        if (v >= 1 && v !== value) out.push({ ...defaults, [key]: v });
      }
    }
  }
  const same = (a: Tiles, b: Tiles) => Object.keys({ ...a, ...b }).every((k) => a[k] === b[k]);
  return out.filter((c, i) => !same(c, defaults) && out.findIndex((d) => same(c, d)) === i);
}

/** The fields of `tiles` that differ from `defaults`. */
function diff(tiles: Tiles, defaults: Tiles): Tiles {
  return Object.fromEntries(Object.entries(tiles).filter(([k, v]) => defaults[k] !== v));
}

async function runAndRead(gpu: Gpu, work: { dispatches: Dispatch[]; outputs: GPUBuffer[] }): Promise<Float32Array[]> {
  submitDispatches(gpu, work.dispatches, 'tune candidate');
  return Promise.all(work.outputs.map((b) => readF32(gpu, b, b.size / 4)));
}

/** Relative L2 error, or Infinity where NaNs differ. */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    if (Number.isNaN(actual[i]) !== Number.isNaN(expected[i])) return Infinity;
    if (Number.isNaN(expected[i])) continue;
    num += (actual[i] - expected[i]) ** 2;
    den += expected[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** A network for `plan` with seeded parameters and a random batch, its whole step run once so every op has real inputs. */
async function primed(
  gpu: Gpu,
  model: ModelSpec,
  options: { training: boolean; maxBatch: number },
  plan: ReturnType<typeof planNetwork>,
) {
  const network = await Network.create(gpu, model, { ...options, plan });
  const rng = new Rng(1);
  network.setParameters(initParameters(network.layout, 1));
  const pixels = Uint8Array.from({ length: options.maxBatch * shapeSize(model.input) }, () => rng.int(256));
  const labels = Uint32Array.from({ length: options.maxBatch }, () => rng.int(model.classes));
  network.writeBatch(pixels, labels);
  const steps = await network.plan(options.maxBatch);
  submitDispatches(
    gpu,
    options.training ? dispatchesOf(steps.forward, steps.loss, steps.backward) : steps.evaluationStep,
    'tune: prime',
  );
  await gpu.device.queue.onSubmittedWorkDone();
  return network;
}

/** Tunes the plan of `model` for {training, maxBatch} on this device (from its untuned profile). */
export async function tunePlan(
  gpu: Gpu,
  model: ModelSpec,
  options: { training: boolean; maxBatch: number },
  tune: TuneOptions,
): Promise<TuneResult> {
  const started = performance.now();
  const deadline = started + tune.budgetSeconds * 1000;
  const log = tune.log ?? (() => {});
  const repeats = tune.repeats ?? 5;
  const profile: DeviceProfile = deviceProfile(gpu);
  const exact = profile.kind === 'cpu-driver';
  const network = await primed(gpu, model, options, planNetwork(model, options, profile));
  // On a GPU, candidates are checked against the buffer kernels' plan run on the same inputs.
  const reference = exact ? null : await primed(gpu, model, options, buildPlan(model, options, profile));
  const method = gpu.features.has('timestamp-query') ? 'timestamp-query' : 'host-timing';
  const time = tune.time ??
    (async (dispatches: Dispatch[]) =>
      (await profileDispatches(gpu, dispatches, repeats)).timings.reduce((sum, t) => sum + t.milliseconds, 0));
  const tuned: NonNullable<DeviceProfile['tuned']> = {};
  const roles: RoleResult[] = [];
  const skipped: string[] = [];
  try {
    const all = network.tunableRoles().filter((r) => !tune.only || tune.only.includes(`${r.node}.${r.role}`));
    for (const [index, { node, role, variant, tiles: defaults }] of all.entries()) {
      const op = `${node}.${role}`;
      const now = performance.now();
      if (now >= deadline) {
        skipped.push(op);
        continue;
      }
      const opDeadline = now + (deadline - now) / (all.length - index);
      const base = await network.recordRole(node, role, options.maxBatch, {});
      const baseOut = await runAndRead(gpu, base);
      const expected = reference
        ? await Promise.all(
          (await reference.recordRole(node, role, options.maxBatch, {})).outputs.map((b) =>
            readF32(gpu, b, b.size / 4)
          ),
        )
        : baseOut;
      const defaultMs = await time(base.dispatches);
      let best = { tiles: null as Tiles | null, ms: defaultMs, dispatches: base.dispatches };
      let tried = 0;
      let rejected = 0;
      for (const candidate of candidateTiles(variant, role, defaults)) {
        if (performance.now() >= opDeadline) break;
        tried++;
        let work;
        try {
          work = await network.recordRole(node, role, options.maxBatch, candidate);
        } catch {
          rejected++; // tiles this kernel or device cannot run
          continue;
        }
        const out = await runAndRead(gpu, work);
        const valid = out.every((o, i) =>
          exact ? sameBits(o, expected[i]) : relativeError(o, expected[i]) < GPU_TOLERANCE
        );
        if (!valid) {
          rejected++;
          continue;
        }
        const ms = await time(work.dispatches);
        if (ms < best.ms * MARGIN) best = { tiles: candidate, ms, dispatches: work.dispatches };
      }
      let confirmedMs = defaultMs;
      if (best.tiles) {
        const a: number[] = [];
        const b: number[] = [];
        for (let r = 0; r < 3; r++) {
          a.push(await time(base.dispatches));
          b.push(await time(best.dispatches));
        }
        const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[1];
        if (median(b) < median(a) * MARGIN) confirmedMs = median(b) * defaultMs / median(a);
        else best = { tiles: null, ms: defaultMs, dispatches: base.dispatches };
      }
      // Leave the op's outputs as the default configuration wrote them, for the ops after it.
      await runAndRead(gpu, base);
      if (best.tiles) tuned[op] = diff(best.tiles, defaults);
      roles.push({
        op,
        variant,
        defaultMs,
        chosen: best.tiles ? diff(best.tiles, defaults) : null,
        chosenMs: confirmedMs,
        tried,
        rejected,
      });
      log(
        `  ${op.padEnd(22)} ${variant.padEnd(13)} default ${defaultMs.toFixed(2).padStart(8)} ms  ` +
          (best.tiles
            ? `-> ${JSON.stringify(diff(best.tiles, defaults))} ${confirmedMs.toFixed(2)} ms (confirmed)`
            : 'kept') +
          `  (${tried} tried, ${rejected} rejected${exact ? ' (not bit-identical or not runnable)' : ''})`,
      );
    }
  } finally {
    network.destroy();
    reference?.destroy();
  }
  const seconds = (performance.now() - started) / 1000;
  return { plan: { tuned, tunedAt: new Date().toISOString(), seconds, method }, roles, skipped };
}
