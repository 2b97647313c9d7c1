// One way to get a GPUDevice on any runtime. Deno and browsers ship WebGPU as `navigator.gpu`;
// Node has none, so we load Dawn's bindings from the npm package `webgpu`. Nothing outside
// src/gpu/ should need to know which runtime it is on. No node: imports here: web/ bundles this file.

// Node-only (node:fs); the browser bundle swaps it for a no-op (bundleWebPage in src/cli/serve.ts).
import { withStderrMuted } from './quiet-stderr.ts';

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
  const isFallbackAdapter = Boolean((info as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
    (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter);
  const summary = {
    vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '', description: info.description ?? '',
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

export const runtime: Runtime = 'Deno' in globalThis ? 'deno'
  : (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node ? 'node' : 'browser';

/** The runtime and its WebGPU implementation, e.g. "Node 20.20.2, WebGPU by Dawn (npm webgpu)". */
export function runtimeDescription(): { name: Runtime; version: string; webgpu: string } {
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno;
  return runtime === 'deno'
    ? { name: 'deno', version: deno!.version.deno, webgpu: 'wgpu (navigator.gpu)' }
    : runtime === 'node'
    ? { name: 'node', version: (globalThis as { process?: { versions: { node: string } } }).process?.versions.node ?? '', webgpu: 'Dawn (npm package webgpu)' }
    : { name: 'browser', version: (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ?? '', webgpu: 'navigator.gpu' };
}

export const INSTALL_HINT =
  'Install a GPU driver with Vulkan, Metal or D3D12 support. Without a GPU on Debian/Ubuntu, the CPU ' +
  'Vulkan driver works: `apt-get install mesa-vulkan-drivers libvulkan1` (Node/Dawn needs Mesa >= 25, ' +
  'on Debian 12 from bookworm-backports).';

async function getGpuEntryPoint(): Promise<GPU> {
  if (runtime !== 'node') {
    const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
    if (!gpu) {
      throw new GpuUnavailableError(runtime === 'deno' ? `This Deno has no navigator.gpu (WebGPU). ${INSTALL_HINT}`
        : 'This browser has no navigator.gpu: try a recent Chrome or Edge (113+), or Firefox or Safari with WebGPU on.');
    }
    return gpu;
  }
  if (dawnEntryPoint) return dawnEntryPoint;
  let mod: { create(options: string[]): GPU; globals: object };
  try {
    mod = await import('webgpu');
  } catch (err) {
    throw new GpuUnavailableError(
      `Could not load Dawn from the npm package "webgpu" (${(err as Error).message}). Run \`npm ci\` first.`,
    );
  }
  // The WebGPU enums (GPUBufferUsage, GPUMapMode, ...) are globals in browsers and Deno.
  for (const [name, value] of Object.entries(mod.globals)) {
    if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
  }
  dawnEntryPoint = mod.create([]);
  return dawnEntryPoint;
}

// Dawn tears its instance down when the GPU object is garbage-collected, even while devices made
// from it are alive (seen as futex/mutex aborts), so the module holds on to it for the process.
let dawnEntryPoint: GPU | undefined;

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
  powerPreference?: GPUPowerPreference;
  /** Ask for timestamp queries when the adapter has them (for profiling). */
  timestamps?: boolean;
  /** Print adapter and limits to stderr. */
  verbose?: boolean;
}

export async function openGpu(options: OpenGpuOptions = {}): Promise<Gpu> {
  const entry = await getGpuEntryPoint();
  const request = () => entry.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  // Dawn prints notices about clamped adapter limits while it discovers adapters: shown with --verbose only.
  const adapter = runtime === 'node' && !options.verbose ? await withStderrMuted(request) : await request();
  if (!adapter) {
    throw new GpuUnavailableError(`No WebGPU adapter found (${runtime}). ${runtime === 'browser'
      ? 'WebGPU may be off or this GPU blocklisted: see chrome://gpu, or try another browser.' : INSTALL_HINT}`);
  }

  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const requiredFeatures: GPUFeatureName[] = [];
  if (options.timestamps && adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
  // GPU plans' reductions may use subgroup operations (src/kernels/reduce_tree.ts); CPU drivers' plans never do.
  if (adapter.features.has('subgroups' as GPUFeatureName) && !summarizeAdapter(adapter).cpuDriver) requiredFeatures.push('subgroups' as GPUFeatureName);

  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'webgpu-digits' });
  const info = adapter.info;
  const adapterName =
    [info?.description || info?.device || info?.architecture, info?.vendor && `vendor ${info.vendor}`].filter(Boolean).join(', ') +
    ` via ${runtime === 'deno' ? 'wgpu (Deno)' : runtime === 'node' ? 'Dawn (Node)' : 'the browser'}`;

  let closed = false;
  const gpu: Gpu = {
    device,
    runtime,
    adapterName,
    adapter: summarizeAdapter(adapter),
    features: new Set(device.features as unknown as Iterable<string>),
    limits: device.limits,
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
    console.error(`adapter info: vendor "${vendor}", architecture "${architecture}", device "${name}", driver "${description}"` +
      `${isFallbackAdapter ? ', fallback adapter' : ''}${cpuDriver ? ' (a CPU driver)' : ''}`);
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
  let result: T;
  try {
    result = work();
  } finally {
    const validation = await device.popErrorScope();
    const oom = await device.popErrorScope();
    if (oom) throw new Error(`GPU out of memory while creating ${what}: ${oom.message}`);
    if (validation) throw new Error(`WebGPU validation error in ${what}: ${validation.message}`);
  }
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
  if (gpu.lostReason !== null) return new GpuDeviceLostError(`GPU device lost during ${what} (${gpu.lostReason}); ${message}`);
  return new Error(`${what} failed: ${message}`);
}
