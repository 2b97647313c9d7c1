// `info`: what a user (or a bug report) needs to know about this installation: runtime, adapter and
// driver, the features and limits the engine uses, where data, checkpoints and compiled shaders live.
import { FOLDER_DATASET, folderInfo } from './folder-data.ts';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import process from 'node:process';
import { loadMnist, type MnistSplitName, projectRoot, resolveDataDir } from '../data/mnist.ts';
import type { DatasetPreset } from '../data/datasets.ts';
import {
  AdapterSelectionError,
  type AdapterSummary,
  GpuUnavailableError,
  INSTALL_HINT,
  listAdapters,
  openGpu,
  type OpenGpuOptions,
  runtimeDescription,
  WANTED_LIMITS,
} from '../gpu/device.ts';
import { DEVICE_CLASSES, type DeviceKind, profileFor } from '../gpu/profile.ts';
import { planNetwork, weightGradientOf } from '../nn/planner.ts';
import { DIGIT } from '../nn/spec.ts';
import { setUpTuning } from './tuning.ts';
import { parseCommandArgs } from './args.ts';
import {
  DATA_HELP,
  dataOptions,
  datasetOption,
  defaultCheckpointPath,
  DEVICE_CLASS_ENV,
  DEVICE_HELP,
  deviceOptions,
  gpuOptions,
} from './common.ts';
import { emitJson } from './progress.ts';

export const INFO_HELP = `Usage: info [options]

Prints the runtime, the WebGPU adapter and its driver (and whether it runs on the CPU), the features
and limits the engine uses, where MNIST and checkpoints are looked for (and whether the MNIST files
there are present and verified), and where the driver caches compiled shaders. Without an adapter it
says what to install. Exits with 1 when no adapter is found.

Options:
${DATA_HELP}
                       (info only checks the files: it never downloads; with --dataset folder it
                       reports the folder's classes, counts, sizes, channels and caches, and nothing else)
${DEVICE_HELP}
  --json               one JSON object on stdout
  -h, --help           show this help`;

interface DataFileReport {
  split: MnistSplitName;
  files: string[];
  status: 'verified' | 'present' | 'missing' | 'invalid';
  images?: number;
  problem?: string;
}

export interface InfoReport {
  engine: { name: string; version: string };
  runtime: ReturnType<typeof runtimeDescription>;
  adapter: (AdapterSummary & { name: string }) | null;
  /** Every adapter --adapter can select on this runtime (number, name, backend). */
  adapters: { index: number; name: string; backend: string }[];
  /** Why there is no adapter, and what to do. */
  noAdapter?: { error: string; fix: string };
  features: string[];
  limits: Record<string, number>;
  data: { dataset: string; dir: string; from: string; splits: DataFileReport[] };
  checkpoint: { path: string; exists: boolean };
  shaderCache: { driver: string; dirs: { path: string; bytes: number }[]; note: string };
  /** The device class and which tile configurations digit's default plans use (tune cache or the profile's defaults). */
  tuning: { deviceClass: string; description: string; cache: string } | null;
  /** The class the engine plans for (src/gpu/profile.ts), the adapter's own, and whether --device-class chose it. */
  deviceClass: { planned: DeviceKind; detected: DeviceKind; chosen: boolean } | null;
  /** How each node of digit's default plans runs with that class (training at batch 64, evaluation at 1000). */
  plans: { plan: string; nodes: { name: string; kind: string; variant: string; weightGradient?: string }[] }[];
}

/** digit's plans that train and eval make by default. */
const DEFAULT_PLANS = [{ training: true, maxBatch: 64 }, { training: false, maxBatch: 1000 }];

export async function infoCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    json: { type: 'boolean', default: false } as const,
    help: { type: 'boolean', short: 'h', default: false } as const,
    ...dataOptions,
    ...deviceOptions,
  });
  if (values.help) {
    console.log(INFO_HELP);
    return 0;
  }
  if (values.dataset === FOLDER_DATASET) return folderInfo(values.data, values.json!);
  const report = await gatherInfo({
    dataDir: values.data,
    verify: !values['no-verify'],
    dataset: datasetOption(values.dataset),
    device: gpuOptions(values),
  });
  if (values.json) emitJson(report as unknown as Record<string, unknown>);
  else console.log(formatInfo(report));
  return report.adapter ? 0 : 1;
}

export async function gatherInfo(
  { dataDir, verify, dataset, device = {} }: {
    dataDir?: string;
    verify: boolean;
    dataset?: DatasetPreset;
    device?: Pick<OpenGpuOptions, 'adapter' | 'powerPreference' | 'deviceClass'>;
  },
): Promise<InfoReport> {
  let adapter: InfoReport['adapter'] = null;
  let noAdapter: InfoReport['noAdapter'];
  let features: string[] = [];
  let tuning: InfoReport['tuning'] = null;
  let deviceClass: InfoReport['deviceClass'] = null;
  const plans: InfoReport['plans'] = [];
  const limits: Record<string, number> = {};
  try {
    const gpu = await openGpu(device);
    adapter = { name: gpu.adapterName, ...gpu.adapter };
    features = [...gpu.features].sort();
    for (const name of WANTED_LIMITS) limits[name] = gpu.limits[name];
    const notices: string[] = [];
    const setup = await setUpTuning(gpu, {
      model: DIGIT,
      plans: DEFAULT_PLANS,
      log: (line) => notices.push(line),
    });
    tuning = {
      deviceClass: gpu.deviceClass,
      description: [...notices, setup.description].join('; '),
      cache: setup.path,
    };
    deviceClass = {
      planned: gpu.deviceClass,
      detected: gpu.detectedDeviceClass,
      chosen: device.deviceClass !== undefined,
    };
    for (const options of DEFAULT_PLANS) {
      const plan = planNetwork(DIGIT, options, profileFor(gpu, DIGIT.name, options.training, options.maxBatch));
      plans.push({
        plan: `${DIGIT.name} ${options.training ? 'training' : 'forward-only'}, batch ${options.maxBatch}`,
        nodes: plan.nodes.map((node) => {
          const { name, kind, variant } = node;
          const weightGradient = weightGradientOf(node);
          return { name, kind, variant, ...(weightGradient ? { weightGradient } : {}) };
        }),
      });
    }
    await gpu.close();
  } catch (err) {
    if (!(err instanceof GpuUnavailableError)) throw err;
    noAdapter = {
      error: err.message,
      fix: err instanceof AdapterSelectionError ? 'pick one of the adapters listed' : INSTALL_HINT,
    };
  }
  const adapters = (await listAdapters().catch(() => [])).map(({ index, name, backend }) => ({ index, name, backend }));
  const preset = dataset ?? datasetOption(undefined);
  const dir = resolveDataDir(dataDir, preset);
  return {
    engine: engineVersion(),
    runtime: runtimeDescription(),
    adapter,
    adapters,
    ...(noAdapter ? { noAdapter } : {}),
    features,
    limits,
    data: {
      dataset: preset.name,
      dir,
      from: dataDir ? '--data' : process.env[preset.envVar] ? `$${preset.envVar}` : 'the default',
      splits: [await checkSplit(dir, 'train', verify, preset), await checkSplit(dir, 'test', verify, preset)],
    },
    checkpoint: { path: resolve(defaultCheckpointPath('digit')), exists: existsSync(defaultCheckpointPath('digit')) },
    shaderCache: shaderCache(adapter),
    tuning,
    deviceClass,
    plans,
  };
}

function engineVersion(): { name: string; version: string } {
  try {
    const pkg = JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8'));
    return { name: String(pkg.name), version: String(pkg.version) };
  } catch {
    return { name: 'webgpu-digits', version: 'unknown' };
  }
}

async function checkSplit(
  dir: string,
  split: MnistSplitName,
  verify: boolean,
  preset: DatasetPreset,
): Promise<DataFileReport> {
  const { images, labels } = preset.files[split];
  const files = [images.name, labels.name];
  const present = (name: string) => existsSync(join(dir, name)) || existsSync(join(dir, `${name}.gz`));
  if (!files.every(present)) {
    const missing = files.filter((f) => !present(f)).map((f) => `${f}(.gz)`).join(', ');
    return { split, files, status: 'missing', problem: `${missing} not there` };
  }
  try {
    const data = await loadMnist({ dataset: preset, dir, split, verify, download: false });
    return { split, files, status: verify ? 'verified' : 'present', images: data.count };
  } catch (err) {
    return { split, files, status: 'invalid', problem: (err as Error).message };
  }
}

/**
 * Where compiled shaders persist between runs. Neither Dawn nor wgpu keeps a cache of their own here;
 * Mesa's drivers (lavapipe among them) do, which is why a first run compiles for longer than the next.
 */
function shaderCache(adapter: InfoReport['adapter']): InfoReport['shaderCache'] {
  const mesa = adapter !== null &&
    /mesa|llvmpipe|lavapipe/i.test(`${adapter.vendor} ${adapter.description} ${adapter.device}`);
  if (!mesa) {
    return {
      driver: adapter ? adapter.description || adapter.vendor : 'none',
      dirs: [],
      note: 'kept by the GPU driver, where it keeps one (not known to this tool)',
    };
  }
  if (/^(1|true|yes)$/i.test(process.env.MESA_SHADER_CACHE_DISABLE ?? '')) {
    return {
      driver: 'Mesa',
      dirs: [],
      note: 'turned off by MESA_SHADER_CACHE_DISABLE: every run compiles from scratch',
    };
  }
  const base = process.env.MESA_SHADER_CACHE_DIR ?? process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  const dirs = process.env.MESA_SHADER_CACHE_DIR
    ? [base]
    : ['mesa_shader_cache', 'mesa_shader_cache_db'].map((name) => join(base, name));
  return {
    driver: 'Mesa',
    dirs: dirs.filter(existsSync).map((path) => ({ path, bytes: folderBytes(path) })),
    note: `${dirs.join(', ')} (empty it to see a first run's compile times)`,
  };
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += folderBytes(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

export function formatInfo(r: InfoReport): string {
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
  const lines = [
    `${r.engine.name} ${r.engine.version}`,
    `runtime     ${r.runtime.name} ${r.runtime.version}, WebGPU by ${r.runtime.webgpu}`,
  ];
  if (r.adapter) {
    const a = r.adapter;
    lines.push(
      `adapter     ${a.name}`,
      `            vendor "${a.vendor}", architecture "${a.architecture}", device "${a.device}"`,
      `driver      ${a.description || '(not reported)'}${
        a.cpuDriver ? ' — a CPU driver: correct, but slow next to a GPU' : ''
      }`,
      `features    ${r.features.join(', ') || '(none)'}`,
      'limits      ' + Object.entries(r.limits).map(([name, value]) => `${name} ${value}`).join('\n            '),
    );
  } else {
    lines.push(`adapter     none: ${r.noAdapter!.error}`);
  }
  lines.push(
    `adapters    ${
      r.adapters.length
        ? r.adapters.map((a) => `${a.index}: ${a.name}${a.backend ? ` (${a.backend})` : ''}`)
          .join('\n            ')
        : '(none found)'
    }`,
  );
  if (r.adapters.length) lines.push('            select with --adapter N or --adapter NAME on any command');
  lines.push(
    `data        ${r.data.dataset === 'mnist' ? '' : `${r.data.dataset}: `}${r.data.dir} (from ${r.data.from})`,
  );
  for (const s of r.data.splits) {
    lines.push(
      `            ${s.split}: ${s.status}${s.images !== undefined ? ` (${s.images} images)` : ''}${
        s.problem ? ` — ${s.problem}` : ''
      }`,
    );
  }
  if (r.data.splits.some((s) => s.status === 'missing')) {
    lines.push(
      '            train and eval download missing files on first use; offline, put them there, or point MNIST_DIR or --data elsewhere',
    );
  }
  lines.push(`checkpoint  ${r.checkpoint.path} (${r.checkpoint.exists ? 'exists' : 'not yet written: run train'})`);
  const cache = r.shaderCache;
  lines.push(`shaders     cached by ${cache.driver}: ${cache.note}`);
  for (const dir of cache.dirs) lines.push(`            ${dir.path}: ${mb(dir.bytes)}`);
  if (r.deviceClass) {
    const c = r.deviceClass;
    lines.push(
      `class       ${c.planned} (${
        c.chosen ? `chosen with --device-class or $${DEVICE_CLASS_ENV}; ` : ''
      }the adapter is taken for a ${c.detected})`,
      `            --device-class ${DEVICE_CLASSES.join('|')} overrides it`,
    );
  }
  for (const [i, p] of r.plans.entries()) {
    const nodes = p.nodes.map((n) =>
      `${n.name} ${n.variant}${n.weightGradient ? ` (weight gradient ${n.weightGradient})` : ''}`
    );
    lines.push(`${i === 0 ? 'plans       ' : '            '}${p.plan}: ${nodes.join(', ')}`);
  }
  if (r.tuning) lines.push(`tuning      ${r.tuning.deviceClass}; ${r.tuning.description}`);
  return lines.join('\n');
}
