// One way to get a GPUDevice on any runtime. Deno and browsers ship WebGPU as `navigator.gpu`;
// Node has none, so we load Dawn's bindings from the npm package `webgpu`. Nothing outside
// src/gpu/ should need to know which runtime it is on. No node: imports here: web/ bundles this file.

// Node-only (node:fs); the browser bundle swaps it for a no-op (bundleWebPage in src/cli/serve.ts).
import { withStderrMuted } from './quiet-stderr.ts';
import { detectDeviceClass, DEVICE_CLASSES, type DeviceKind, isDeviceClass } from './profile.ts';

export type Runtime = 'deno' | 'node' | 'browser';

/** Node's (and Deno's) process.env, read without importing node:process, which browsers lack. */
const env: Record<string, string | undefined> =
  (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};

export interface Gpu {
  readonly device: GPUDevice;
  readonly runtime: Runtime;
  /** One line naming the adapter, e.g. "llvmpipe (Mesa 25.0.7) via Dawn". */
  readonly adapterName: string;
  /** What the adapter says of itself. */
  readonly adapter: AdapterSummary;
  readonly features: ReadonlySet<string>;
  readonly limits: GPUSupportedLimits;
  /**
   * The class of device the engine plans for (src/gpu/profile.ts): the adapter's own, or the one chosen
   * with openGpu's `deviceClass` (--device-class), which then overrides it.
   */
  readonly deviceClass: DeviceKind;
  /** The class the adapter is taken for, whatever was chosen (equal to deviceClass when nothing was). */
  readonly detectedDeviceClass: DeviceKind;
  /** Set once the device is lost; operations after that fail with this message. */
  lostReason: string | null;
  /**
   * True where awaiting a GPU promise (mapAsync, onSubmittedWorkDone) keeps the main thread busy until it
   * settles: Dawn's Node bindings poll for events with setImmediate meanwhile, which on a CPU driver
   * takes a core from the shaders. Long waits then sleep first (src/gpu/wait.ts) and poll only at the end.
   * WEBGPU_DIGITS_POLL_WAITS=1 turns that off, for comparison (bench/wait-pacing.ts).
   */
  readonly waitingPolls: boolean;
  /** Bytes of the buffers created through createBuffer (src/gpu/buffers.ts) and not yet destroyed. */
  readonly memory: BufferLedger;
  /** Waits for submitted work, then destroys the device so the process can exit. */
  close(): Promise<void>;
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  /** A driver that runs on the CPU (lavapipe/llvmpipe, SwiftShader, WARP): slow, and tuned differently. */
  cpuDriver: boolean;
}

const CPU_DRIVER = /llvmpipe|lavapipe|swiftshader|\bwarp\b|basic render driver/i;

export function summarizeAdapter(adapter: GPUAdapter): AdapterSummary {
  const info = adapter.info ?? ({} as GPUAdapterInfo);
  const isFallbackAdapter = Boolean(
    (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
      (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter,
  );
  const summary = {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    isFallbackAdapter,
  };
  return { ...summary, cpuDriver: isFallbackAdapter || CPU_DRIVER.test(`${summary.device} ${summary.description}`) };
}

export interface BufferLedger {
  liveBytes: number;
  liveBuffers: number;
  peakBytes: number;
}

export class GpuUnavailableError extends Error {
  override name = 'GpuUnavailableError';
}

export class GpuDeviceLostError extends Error {
  override name = 'GpuDeviceLostError';
}

export const runtime: Runtime = 'Deno' in globalThis
  ? 'deno'
  : (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node
  ? 'node'
  : 'browser';

/** The runtime and its WebGPU implementation, e.g. "Node 20.20.2, WebGPU by Dawn (npm webgpu)". */
export function runtimeDescription(): { name: Runtime; version: string; webgpu: string } {
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno;
  return runtime === 'deno'
    ? { name: 'deno', version: deno!.version.deno, webgpu: 'wgpu (navigator.gpu)' }
    : runtime === 'node'
    ? {
      name: 'node',
      version: (globalThis as { process?: { versions: { node: string } } }).process?.versions.node ?? '',
      webgpu: 'Dawn (npm package webgpu)',
    }
    : {
      name: 'browser',
      version: (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ?? '',
      webgpu: 'navigator.gpu',
    };
}

export const INSTALL_HINT =
  'Install a GPU driver with Vulkan, Metal or D3D12 support. Without a GPU on Debian/Ubuntu, the CPU ' +
  'Vulkan driver works: `apt-get install mesa-vulkan-drivers libvulkan1` (Node/Dawn needs Mesa >= 25, ' +
  'on Debian 12 from bookworm-backports).';

/** Dawn's loaded module, once. */
let dawnModule: { create(options: string[]): GPU; globals: object } | undefined;

/** The runtime's WebGPU entry point; on Node, a Dawn instance made with `dawnOptions` (e.g. `adapter=NAME`). */
async function getGpuEntryPoint(dawnOptions: readonly string[] = []): Promise<GPU> {
  if (runtime !== 'node') {
    const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
    if (!gpu) {
      throw new GpuUnavailableError(
        runtime === 'deno'
          ? `This Deno has no navigator.gpu (WebGPU). ${INSTALL_HINT}`
          : 'This browser has no navigator.gpu: try a recent Chrome or Edge (113+), or Firefox or Safari with WebGPU on.',
      );
    }
    return gpu;
  }
  const key = dawnOptions.join('\n');
  const known = dawnEntryPoints.get(key);
  if (known) return known;
  if (!dawnModule) {
    try {
      dawnModule = await import('webgpu');
    } catch (err) {
      throw new GpuUnavailableError(
        `Could not load Dawn from the npm package "webgpu" (${(err as Error).message}). Run \`npm ci\` first.`,
      );
    }
    // The WebGPU enums (GPUBufferUsage, GPUMapMode, ...) are globals in browsers and Deno.
    for (const [name, value] of Object.entries(dawnModule.globals)) {
      if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
    }
  }
  const entry = dawnModule!.create([...dawnOptions]);
  dawnEntryPoints.set(key, entry);
  return entry;
}

// Dawn tears its instance down when the GPU object is garbage-collected, even while devices made
// from it are alive (seen as futex/mutex aborts), so the module holds on to every one for the process.
const dawnEntryPoints = new Map<string, GPU>();

/** One adapter the runtime can reach, as `info` lists it and `--adapter N|NAME` selects it. */
export interface AdapterChoice {
  /** Its number for `--adapter N`. */
  index: number;
  /** Its name for `--adapter NAME` (any case-insensitive part of it). */
  name: string;
  /** Dawn's backend (vulkan, metal, d3d12, ...); empty where the runtime does not say. */
  backend: string;
  /** How this runtime reaches it: Dawn's adapter option, or Deno's request options. */
  request: { dawnOptions?: string[]; options?: GPURequestAdapterOptions };
}

/** Thrown when `--adapter` names nothing this runtime can select; the message lists what it can. */
export class AdapterSelectionError extends GpuUnavailableError {
  override name = 'AdapterSelectionError';
}

/**
 * The adapters this runtime can select. Dawn (Node) lists every adapter of every backend: asked for an
 * adapter name that matches none, its requestAdapter fails with that list. WebGPU in Deno and browsers
 * chooses by powerPreference and forceFallbackAdapter only: the distinct adapters those requests give.
 */
export async function listAdapters(): Promise<AdapterChoice[]> {
  if (runtime === 'node') {
    let message = '';
    try {
      const entry = await getGpuEntryPoint(['adapter=\u0001no adapter has this name']);
      await withStderrMuted(() => entry.requestAdapter());
    } catch (err) {
      message = (err as Error).message;
    }
    const found = [...message.matchAll(/\* backend: '([^']*)', name: '([^']*)'/g)];
    return found.map(([, backend, name], index) => ({
      index,
      name,
      backend,
      request: { dawnOptions: [`adapter=${name}`, `backend=${backend}`] },
    }));
  }
  const gpu = await getGpuEntryPoint();
  const variants: GPURequestAdapterOptions[] = [{ powerPreference: 'high-performance' }, {
    powerPreference: 'low-power',
  }, { forceFallbackAdapter: true }];
  const out: AdapterChoice[] = [];
  const seen = new Set<string>();
  for (const options of variants) {
    const adapter = await gpu.requestAdapter(options).catch(() => null);
    if (!adapter) continue;
    const info = adapter.info ?? ({} as GPUAdapterInfo);
    const key = [info.vendor, info.architecture, info.device, info.description].join('|');
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({
      index: out.length,
      name: info.description || info.device || info.vendor || `adapter ${out.length}`,
      backend: '',
      request: { options },
    });
  }
  return out;
}

/** The adapter that `--adapter N|NAME` picks, or an AdapterSelectionError listing the choices. */
async function selectAdapter(which: number | string): Promise<AdapterChoice> {
  const choices = await listAdapters();
  const listing = choices.length
    ? choices.map((c) => `${c.index}: ${c.name}${c.backend ? ` (${c.backend})` : ''}`).join('; ')
    : 'none';
  const limitation = runtime === 'node'
    ? ''
    : ` ${runtime === 'deno' ? 'Deno' : 'The browser'}'s WebGPU selects adapters only by powerPreference ` +
      '(--power-preference) and the fallback adapter, so other adapters cannot be chosen here; Node (Dawn) can choose any.';
  const matches = typeof which === 'number'
    ? choices.filter((c) => c.index === which)
    : choices.filter((c) => c.name.toLowerCase().includes(which.toLowerCase()));
  if (matches.length === 1) return matches[0];
  const what = typeof which === 'number' ? `number ${which}` : `"${which}"`;
  if (matches.length > 1) {
    throw new AdapterSelectionError(
      `--adapter ${what} matches ${matches.length} adapters (${listing}); give its number or more of its name.`,
    );
  }
  throw new AdapterSelectionError(`No adapter ${what} on ${runtime}; adapters: ${listing}.${limitation}`);
}

/** Limits the engine asks for explicitly: the defaults are too small for large batches. */
export const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
] as const;

export interface OpenGpuOptions {
  /** Which adapter: its number or (part of) its name, as listAdapters() gives them (default: the runtime's choice). */
  adapter?: number | string;
  /** Asked of the runtime when choosing an adapter (default 'high-performance'). */
  powerPreference?: GPUPowerPreference;
  /** Ask for timestamp queries when the adapter has them (for profiling). */
  timestamps?: boolean;
  /** Print adapter and limits to stderr. */
  verbose?: boolean;
  /**
   * Plan for this class of device instead of the one the adapter is taken for: 'cpu-driver' (the
   * kernels tuned for lavapipe and other CPU drivers), 'integrated-gpu' or 'discrete-gpu' (the
   * GPU-class kernels: workgroup-tiled GEMM and convolutions, tree reductions). For an adapter that is
   * classified wrongly, and to run the GPU-class kernels on a CPU driver.
   */
  deviceClass?: DeviceKind;
}

/** Thrown when openGpu's `deviceClass` names no device class; the message lists them. */
export class DeviceClassError extends RangeError {
  override name = 'DeviceClassError';
}

/** `value` as a device class, or a DeviceClassError naming `what` and listing the classes. */
export function parseDeviceClass(value: unknown, what = 'deviceClass'): DeviceKind {
  if (isDeviceClass(value)) return value;
  throw new DeviceClassError(
    `${what}: unknown device class ${JSON.stringify(value)}; the classes are ${DEVICE_CLASSES.join(', ')}`,
  );
}

export async function openGpu(options: OpenGpuOptions = {}): Promise<Gpu> {
  const chosenClass = options.deviceClass === undefined ? undefined : parseDeviceClass(options.deviceClass);
  const chosen = options.adapter === undefined ? undefined : await selectAdapter(options.adapter);
  const entry = await getGpuEntryPoint(chosen?.request.dawnOptions);
  const request = () =>
    entry.requestAdapter({
      powerPreference: options.powerPreference ?? 'high-performance',
      ...chosen?.request.options,
    });
  // Dawn prints notices about clamped adapter limits while it discovers adapters: shown with --verbose only.
  const adapter = runtime === 'node' && !options.verbose ? await withStderrMuted(request) : await request();
  if (!adapter) {
    throw new GpuUnavailableError(
      `No WebGPU adapter found (${runtime}). ${
        runtime === 'browser'
          ? 'WebGPU may be off or this GPU blocklisted: see chrome://gpu, or try another browser.'
          : INSTALL_HINT
      }`,
    );
  }

  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const info = adapter.info;
  const adapterName =
    [info?.description || info?.device || info?.architecture, info?.vendor && `vendor ${info.vendor}`].filter(Boolean)
      .join(', ') +
    ` via ${runtime === 'deno' ? 'wgpu (Deno)' : runtime === 'node' ? 'Dawn (Node)' : 'the browser'}`;
  const summary = summarizeAdapter(adapter);
  const detectedDeviceClass = detectDeviceClass(adapterName, summary);
  const deviceClass = chosenClass ?? detectedDeviceClass;

  const requiredFeatures: GPUFeatureName[] = [];
  if (options.timestamps && adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
  // GPU plans' reductions may use subgroup operations (src/kernels/reduce_tree.ts); CPU drivers' plans never do.
  if (adapter.features.has('subgroups' as GPUFeatureName) && deviceClass !== 'cpu-driver') {
    requiredFeatures.push('subgroups' as GPUFeatureName);
  }

  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'webgpu-digits' });

  let closed = false;
  const gpu: Gpu = {
    device,
    runtime,
    adapterName,
    adapter: summary,
    features: new Set(device.features as unknown as Iterable<string>),
    limits: device.limits,
    deviceClass,
    detectedDeviceClass,
    lostReason: null,
    waitingPolls: runtime === 'node' && !env.WEBGPU_DIGITS_POLL_WAITS,
    memory: { liveBytes: 0, liveBuffers: 0, peakBytes: 0 },
    async close() {
      if (closed) return;
      closed = true;
      if (gpu.lostReason === null) {
        try {
          await device.queue.onSubmittedWorkDone();
        } catch {
          // The device may already be gone; destroying it is all that is left to do.
        }
      }
      device.destroy();
    },
  };
  device.lost.then((info) => {
    if (closed) return;
    gpu.lostReason = `${info.reason ?? 'unknown'}: ${info.message || 'no message'}`;
  });
  device.addEventListener('uncapturederror', (event) => {
    // Validation errors inside recorded work surface here; we log loudly. Callers that need a hard
    // failure wrap their work in checkErrors().
    const error = (event as GPUUncapturedErrorEvent).error;
    console.error(`WebGPU error: ${error.message}`);
  });

  if (options.verbose) {
    const { vendor, architecture, device: name, description, isFallbackAdapter, cpuDriver } = gpu.adapter;
    console.error(`adapter: ${adapterName}`);
    console.error(
      `adapter info: vendor "${vendor}", architecture "${architecture}", device "${name}", driver "${description}"` +
        `${isFallbackAdapter ? ', fallback adapter' : ''}${cpuDriver ? ' (a CPU driver)' : ''}`,
    );
    console.error(`device class: ${describeDeviceClass(gpu)}`);
    console.error(`features: ${[...gpu.features].sort().join(', ') || '(none)'}`);
    for (const name of WANTED_LIMITS) console.error(`limit ${name}: ${device.limits[name]}`);
  }
  return gpu;
}

/**
 * Runs `work` inside validation and out-of-memory error scopes and throws, naming `what`, if either
 * caught something. Use it around anything created from user-controlled sizes.
 */
export async function checkErrors<T>(gpu: Gpu, what: string, work: () => T): Promise<T> {
  const { device } = gpu;
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: work() };
  } catch (error) {
    outcome = { ok: false, error };
  }
  // The scopes are popped whatever work() did; a GPU error explains more than the JavaScript one it caused.
  const validation = await device.popErrorScope();
  const oom = await device.popErrorScope();
  if (oom) throw new Error(`GPU out of memory while creating ${what}: ${oom.message}`);
  if (validation) throw new Error(`WebGPU validation error in ${what}: ${validation.message}`);
  if (!outcome.ok) throw outcome.error;
  const result = outcome.value;
  if (gpu.lostReason !== null) throw new GpuDeviceLostError(`GPU device lost during ${what} (${gpu.lostReason})`);
  return result;
}

/**
 * Turns a failed GPU operation into an error that says what happened: a lost device (destroyed,
 * driver reset, out of memory) becomes a GpuDeviceLostError. The lost promise may settle just after
 * the failure it caused, so give it a moment first.
 */
export async function explainGpuFailure(gpu: Gpu, err: unknown, what: string): Promise<Error> {
  if (gpu.lostReason === null) await new Promise((resolve) => setTimeout(resolve, 50));
  const message = err instanceof Error ? err.message : String(err);
  if (gpu.lostReason !== null) {
    return new GpuDeviceLostError(`GPU device lost during ${what} (${gpu.lostReason}); ${message}`);
  }
  return new Error(`${what} failed: ${message}`);
}

/** The class a device plans for, and where it came from: "discrete-gpu (chosen; the adapter is taken for a cpu-driver)". */
export function describeDeviceClass(gpu: Pick<Gpu, 'deviceClass' | 'detectedDeviceClass'>): string {
  if (gpu.deviceClass === gpu.detectedDeviceClass) return `${gpu.deviceClass} (the adapter's)`;
  return `${gpu.deviceClass} (chosen; the adapter is taken for a ${gpu.detectedDeviceClass})`;
}
