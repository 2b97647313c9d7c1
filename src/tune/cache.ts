// The tune cache: the tuner's winners (src/tune/tuner.ts) in one JSON file per user, keyed by adapter
// identity, driver, runtime and engine version, so a command on the same machine and engine plans
// with them. $WEBGPU_DIGITS_TUNE_CACHE (or --tune-cache) names the file; else
// $XDG_CACHE_HOME/webgpu-digits/tune.json, else ~/.cache/webgpu-digits/tune.json. A damaged file or an
// entry from another engine version is ignored with a one-line notice; writes are atomic.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import process from 'node:process';
import type { Gpu } from '../gpu/device.ts';
import type { DeviceProfile } from '../gpu/profile.ts';
import { SHADER_SOURCES } from '../gpu/shaders.gen.ts';
import { engineVersion, runtimeVersion } from '../cli/run-info.ts';

export const TUNE_CACHE_ENV = 'WEBGPU_DIGITS_TUNE_CACHE';
const FORMAT = 'webgpu-digits tune cache';

/** Where the cache lives: `flag`, else $WEBGPU_DIGITS_TUNE_CACHE, else the user's cache directory. */
export function tuneCachePath(flag?: string, env: Record<string, string | undefined> = process.env): string {
  if (flag) return flag;
  if (env[TUNE_CACHE_ENV]) return env[TUNE_CACHE_ENV]!;
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(base, 'webgpu-digits', 'tune.json');
}

/** What a cache entry must match to be used. */
export interface TuneKey {
  /** vendor / architecture / device / description, as the adapter reports them. */
  adapter: string;
  /** The driver as the runtime names it (the adapter's one-line name, Mesa's version included). */
  driver: string;
  runtime: string;
  /** package version + a hash of every kernel's source: a kernel change makes old entries stale. */
  engine: string;
}

/** One plan's tuned tiles and how they were found. */
export interface TunedPlan {
  tuned: NonNullable<DeviceProfile['tuned']>;
  /** When, how long it took, and how the candidates were timed. */
  tunedAt: string;
  seconds: number;
  method: string;
}

interface CacheEntry {
  key: TuneKey;
  /** By planKey(). */
  plans: Record<string, TunedPlan>;
}

interface CacheFile {
  format: typeof FORMAT;
  version: 1;
  entries: CacheEntry[];
}

/** FNV-1a over the embedded kernels: changes whenever any shader does. */
function shaderHash(): string {
  let h = 0x811c9dc5;
  for (const key of Object.keys(SHADER_SOURCES).sort()) {
    const text = key + SHADER_SOURCES[key];
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

export function tuneKeyOf(gpu: Gpu): TuneKey {
  const { vendor, architecture, device, description } = gpu.adapter;
  const { runtime, version } = runtimeVersion();
  return {
    adapter: [vendor, architecture, device, description].join(' / '),
    driver: gpu.adapterName,
    runtime: `${runtime} ${version}`,
    engine: `${engineVersion()}+${shaderHash()}`,
  };
}

/** The plan a tuned configuration is for. */
export const planKey = (model: string, training: boolean, maxBatch: number): string =>
  `${model}/${training ? 'training' : 'forward'}/${maxBatch}`;

const sameMachine = (a: TuneKey, b: TuneKey) =>
  a.adapter === b.adapter && a.driver === b.driver && a.runtime === b.runtime;

/** The file's entries, or [] with a notice when it is missing (no notice), unreadable or not a tune cache. */
function readCache(path: string): { entries: CacheEntry[]; notice?: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { entries: [] };
  }
  try {
    const file = JSON.parse(text) as CacheFile;
    if (
      file?.format !== FORMAT || file.version !== 1 || !Array.isArray(file.entries) ||
      !file.entries.every((e) => e && typeof e.key?.engine === 'string' && e.plans && typeof e.plans === 'object')
    ) {
      throw new Error('not a tune cache');
    }
    return { entries: file.entries };
  } catch {
    return {
      entries: [],
      notice: `ignoring the tune cache ${path}: it is damaged (not a version-1 tune cache); \`tune\` rewrites it`,
    };
  }
}

export interface CacheLookup {
  /** Tuned tiles by planKey, for this machine and engine. */
  plans: Record<string, TunedPlan>;
  /** One line to print, when the file was damaged or its entry stale. */
  notice?: string;
}

/** The entry for `key` in the cache at `path`. */
export function loadTuneCache(path: string, key: TuneKey): CacheLookup {
  const { entries, notice } = readCache(path);
  if (notice) return { plans: {}, notice };
  const entry = entries.find((e) => sameMachine(e.key, key) && e.key.engine === key.engine);
  if (entry) return { plans: entry.plans };
  const stale = entries.find((e) => sameMachine(e.key, key));
  return {
    plans: {},
    ...(stale
      ? {
        notice:
          `ignoring the tune cache's entry for this adapter in ${path}: it was tuned for engine ${stale.key.engine}, this is ${key.engine}; \`tune\` renews it`,
      }
      : {}),
  };
}

/** Stores `plans` for `key` (replacing that entry's plans of the same keys; stale entries for the machine dropped), atomically. */
export function saveTuneCache(path: string, key: TuneKey, plans: Record<string, TunedPlan>): void {
  const { entries } = readCache(path);
  const kept = entries.filter((e) => !sameMachine(e.key, key) || e.key.engine === key.engine);
  let entry = kept.find((e) => sameMachine(e.key, key));
  if (!entry) kept.push(entry = { key, plans: {} });
  entry.plans = { ...entry.plans, ...plans };
  const file: CacheFile = { format: FORMAT, version: 1, entries: kept };
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(file, null, 2) + '\n');
  renameSync(temporary, path);
}
