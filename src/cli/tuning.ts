// What train, eval, bench and `--plan` share about tuning: the --tune and --tune-cache options, reading
// the tune cache for this device (src/tune/cache.ts), running the tuner for plans it lacks (--tune),
// and saying which configuration a run uses (--verbose, info).
import type { Gpu } from '../gpu/device.ts';
import { deviceProfile, useTunedConfigs } from '../gpu/profile.ts';
import type { ModelSpec } from '../nn/spec.ts';
import {
  checkTuneCachePath,
  loadTuneCache,
  planKey,
  saveTuneCache,
  tuneCachePath,
  type TunedPlan,
  tuneKeyOf,
} from '../tune/cache.ts';
import { tunePlan } from '../tune/tuner.ts';

export const tuneOptions = {
  tune: { type: 'boolean', default: false },
  'tune-cache': { type: 'string' },
} as const;

export const TUNE_HELP_LINES =
  `  --tune               run the tuner first for the plans the tune cache lacks on this device (see \`tune\`)
  --tune-cache FILE    the tune cache (default: $WEBGPU_DIGITS_TUNE_CACHE, else
                       $XDG_CACHE_HOME/webgpu-digits/tune.json, else ~/.cache/webgpu-digits/tune.json)`;

/** Default time budget of the tuner, in seconds, for all the plans of one command. */
export const DEFAULT_TUNE_SECONDS = 50;

export interface TuneSetup {
  /** One line: which configuration the run's plans use. */
  description: string;
  path: string;
}

/**
 * Reads the tune cache for `gpu` and makes its entries the tiles of every plan made afterwards; with
 * `tune`, tunes the listed plans the cache lacks first (and stores them). Notices go to `log`.
 */
export async function setUpTuning(gpu: Gpu, options: {
  cache?: string;
  tune?: boolean;
  model: ModelSpec;
  plans: { training: boolean; maxBatch: number }[];
  budgetSeconds?: number;
  log: (line: string) => void;
}): Promise<TuneSetup> {
  const path = tuneCachePath(options.cache);
  if (options.tune) checkTuneCachePath(path); // before tuning whose result could not be stored
  const key = tuneKeyOf(gpu);
  const found = loadTuneCache(path, key);
  if (found.notice) options.log(found.notice);
  const plans: Record<string, TunedPlan> = { ...found.plans };
  if (options.tune) {
    const missing = options.plans.filter((p) => !plans[planKey(options.model.name, p.training, p.maxBatch)]);
    const fresh = await tunePlans(
      gpu,
      options.model,
      missing,
      options.budgetSeconds ?? DEFAULT_TUNE_SECONDS,
      options.log,
    );
    if (Object.keys(fresh).length > 0) {
      saveTuneCache(path, key, fresh);
      Object.assign(plans, fresh);
    }
  }
  useTunedConfigs(
    gpu,
    (model, training, maxBatch) => plans[planKey(model, training, maxBatch)]?.tuned,
    (plan, problem) =>
      options.log(
        `ignoring the tune cache's entry ${planKey(plan.model, plan.training, plan.maxBatch)} in ${path}: ` +
          `a kernel refuses its tiles (${problem}); that plan uses the profile's defaults (\`tune\` renews it)`,
      ),
  );
  const used = options.plans.map((p) => planKey(options.model.name, p.training, p.maxBatch)).filter((k) => plans[k]);
  const kind = deviceProfile(gpu).kind;
  const description = used.length > 0
    ? `tile configurations: tuned for ${
      // A plan whose budget ran out before any winner is in the cache with no op off the defaults.
      used.map((k) => `${k} (${Object.keys(plans[k].tuned).length} ops off the defaults)`).join(', ')} (${path}, ${
      plans[used[0]].tunedAt.slice(0, 10)
    }); else the ${kind} profile's defaults`
    : `tile configurations: the ${kind} profile's defaults (no tune cache entry for this device in ${path})`;
  return { description, path };
}

/** Tunes each plan in turn, sharing `budgetSeconds` between them (the first gets its share, the rest what is left). */
export async function tunePlans(
  gpu: Gpu,
  model: ModelSpec,
  plans: { training: boolean; maxBatch: number }[],
  budgetSeconds: number,
  log: (line: string) => void,
): Promise<Record<string, TunedPlan>> {
  const out: Record<string, TunedPlan> = {};
  const deadline = performance.now() + budgetSeconds * 1000;
  for (const [i, p] of plans.entries()) {
    const key = planKey(model.name, p.training, p.maxBatch);
    const share = (deadline - performance.now()) / 1000 / (plans.length - i);
    // Setting a plan up (its pipelines, a primed step) counts against its share: with nothing left it
    // would spend that time only to skip every op (and tune would overshoot --seconds by it).
    if (share <= 0) {
      log(`tuning ${key}: the budget is spent; its ops keep their defaults (give tune more --seconds)`);
      continue;
    }
    log(`tuning ${key} (up to ${share.toFixed(0)} s):`);
    const result = await tunePlan(gpu, model, p, { budgetSeconds: share, log });
    if (result.skipped.length) {
      log(`  the budget ran out before ${result.skipped.join(', ')}: those keep their defaults`);
    }
    log(
      `  ${Object.keys(result.plan.tuned).length} of ${result.roles.length + result.skipped.length} ops tuned in ` +
        `${result.plan.seconds.toFixed(1)} s (${result.plan.method})`,
    );
    out[key] = result.plan;
  }
  return out;
}
