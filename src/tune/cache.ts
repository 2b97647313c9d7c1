// The tune cache: the tuner's winners (src/tune/tuner.ts) in one JSON file per user, keyed by adapter
// identity, driver, runtime and engine version, so a command on the same machine and engine plans
// with them. $WEBGPU_DIGITS_TUNE_CACHE (or --tune-cache) names the file; else
// $XDG_CACHE_HOME/webgpu-digits/tune.json, else ~/.cache/webgpu-digits/tune.json. A damaged file or an
// entry from another engine version is ignored with a one-line notice; writes are atomic.
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import process from 'node:process';
import type { Gpu } from '../gpu/device.ts';
import type { DeviceProfile } from '../gpu/profile.ts';
import { SHADER_SOURCES } from '../gpu/shaders.gen.ts';
import {
  MAX_COLUMNS,
  MAX_IMPLICIT_GEMM_COLUMNS,
  MAX_IMPLICIT_GEMM_ROWS,
  MAX_TAPS,
  MAX_TEXTURE_CHANNELS,
} from '../kernels/conv2d_tiles.ts';
import { MAX_GEMM_THREAD, MAX_GEMM_TILE, MAX_GEMM_TILE_K } from '../kernels/gemm_tiles.ts';
import { MAX_MATMUL_ROWS } from '../kernels/matmul.ts';
import { ensureDir, errorCode, readRegularFile, writeFileAtomicSync } from '../io/files.ts';
import { checkWriteTarget } from '../io/write-target.ts';
import { engineVersion, runtimeVersion } from '../cli/run-info.ts';

export const TUNE_CACHE_ENV = 'WEBGPU_DIGITS_TUNE_CACHE';
const FORMAT = 'webgpu-digits tune cache';
/** No real cache comes near this: one entry per adapter, runtime and engine, a few plans each. */
const MAX_CACHE_BYTES = 16 * 1024 * 1024;

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
  /**
   * The device class the plans were made for (--device-class can change it on one adapter); entries
   * from before it was recorded have none and match no device.
   */
  deviceClass?: string;
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
    deviceClass: gpu.deviceClass,
    engine: `${engineVersion()}+${shaderHash()}`,
  };
}

/** The plan a tuned configuration is for. */
export const planKey = (model: string, training: boolean, maxBatch: number): string =>
  `${model}/${training ? 'training' : 'forward'}/${maxBatch}`;

const sameMachine = (a: TuneKey, b: TuneKey) =>
  a.adapter === b.adapter && a.driver === b.driver && a.runtime === b.runtime && a.deviceClass === b.deviceClass;

/** The file's entries, or [] with a notice when it is missing (no notice), unreadable or not a tune cache. */
function readCache(path: string): { entries: CacheEntry[]; notice?: string } {
  let text: string;
  try {
    text = new TextDecoder().decode(readRegularFile(path, 'Tune cache', '', MAX_CACHE_BYTES));
  } catch (err) {
    if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return { entries: [] };
    return { entries: [], notice: `ignoring the tune cache: ${(err as Error).message}` };
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

/**
 * The legal range of every tile field a kernel takes (the register arrays' MAX_* sizes in
 * src/kernels/*_tiles.ts and the shaders; WebGPU's largest workgroup): a value outside it would fail
 * when the kernel is built, naming the kernel instead of the cache.
 */
const TILE_FIELDS: Record<string, [number, number]> = {
  channelBlock: [1, MAX_TEXTURE_CHANNELS],
  columns: [1, Math.max(MAX_COLUMNS, MAX_IMPLICIT_GEMM_COLUMNS)],
  rows: [1, Math.max(MAX_IMPLICIT_GEMM_ROWS, MAX_MATMUL_ROWS)],
  columnTexels: [1, 2],
  kernelRowBlock: [1, MAX_TAPS],
  kernelColumnBlock: [1, MAX_TAPS],
  rowsPerChunk: [1, 1 << 16],
  workgroup: [1, 1024],
  reduceWorkgroup: [1, 1024],
  tileM: [1, MAX_GEMM_TILE],
  tileN: [1, MAX_GEMM_TILE],
  tileK: [1, MAX_GEMM_TILE_K],
  threadM: [1, MAX_GEMM_THREAD],
  threadN: [1, MAX_GEMM_THREAD],
  splits: [1, 1 << 16],
};

/** What is wrong with one plan's tuned tiles, or undefined when every op's fields are legal. */
export function tunedPlanProblem(plan: unknown): string | undefined {
  const tuned = (plan as { tuned?: unknown })?.tuned;
  if (typeof tuned !== 'object' || tuned === null || Array.isArray(tuned)) return 'no "tuned" object';
  for (const [op, tiles] of Object.entries(tuned)) {
    if (typeof tiles !== 'object' || tiles === null || Array.isArray(tiles)) return `${op} is not an object of tiles`;
    for (const [field, value] of Object.entries(tiles)) {
      const range = Object.hasOwn(TILE_FIELDS, field) ? TILE_FIELDS[field] : undefined;
      if (!range) return `${op}.${field} is no tile field of any kernel`;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < range[0] || value > range[1]) {
        return `${op}.${field} is ${JSON.stringify(value)}, expected an integer in [${range[0]}, ${range[1]}]`;
      }
    }
  }
  return undefined;
}

/** The entry for `key` in the cache at `path`; plans with illegal tiles are left out with a notice. */
export function loadTuneCache(path: string, key: TuneKey): CacheLookup {
  const { entries, notice } = readCache(path);
  if (notice) return { plans: {}, notice };
  const entry = entries.find((e) => sameMachine(e.key, key) && e.key.engine === key.engine);
  if (entry) {
    const plans: Record<string, TunedPlan> = {};
    const bad: string[] = [];
    for (const [name, plan] of Object.entries(entry.plans)) {
      const problem = tunedPlanProblem(plan);
      if (problem) bad.push(`${name} (${problem})`);
      else plans[name] = plan;
    }
    if (!bad.length) return { plans };
    return {
      plans,
      notice: `ignoring damaged entries of the tune cache ${path}: ${bad.join('; ')}; \`tune\` renews them`,
    };
  }
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
  writeFileAtomicSync(path, new TextEncoder().encode(JSON.stringify(file, null, 2) + '\n'));
}

/**
 * Refuses, before any tuning, a cache path the result could never be stored at: a directory, FIFO or
 * device there, or a directory that cannot be made (a file in the way, /proc). Creates the directory.
 */
export function checkTuneCachePath(path: string): void {
  checkWriteTarget(path, { what: 'the tune cache', overwrite: true });
  ensureDir(dirname(path));
}
