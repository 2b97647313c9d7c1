// What the planner (src/nn/planner.ts) may know about a device, as plain data: the class of device,
// the limits and features its decisions depend on, and any tuned tile configurations. Built from an
// open device here (deviceProfile), from an adapter's summary and limits (profileOf), or by hand in
// the planner's GPU-free tests.
import type { AdapterSummary, Gpu } from './device.ts';

/**
 * CPU drivers (lavapipe/llvmpipe, SwiftShader, WARP) run shaders on the host's cores; integrated GPUs
 * share the host's memory and have few compute units; everything else is a discrete GPU.
 */
export type DeviceKind = 'cpu-driver' | 'integrated-gpu' | 'discrete-gpu';

/** Every device class, in the order help and error messages list them. */
export const DEVICE_CLASSES: readonly DeviceKind[] = ['cpu-driver', 'integrated-gpu', 'discrete-gpu'];

export function isDeviceClass(value: unknown): value is DeviceKind {
  return typeof value === 'string' && (DEVICE_CLASSES as readonly string[]).includes(value);
}

export interface DeviceProfile {
  kind: DeviceKind;
  /** The adapter's one-line name, for printing. */
  adapter: string;
  limits: {
    maxTextureDimension2D: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupSizeX: number;
  };
  features: string[];
  /**
   * Tile configurations measured on this device by the tuner (src/tune/), by `<node>.<role>` (e.g.
   * "conv1.forward"); override the rules.
   */
  tuned?: Record<string, Record<string, number>>;
}

const CPU_DRIVER = /llvmpipe|lavapipe|swiftshader|softpipe|\bwarp\b|basic render driver/i;
// Integrated parts by name or architecture (WebGPU's adapter info gives vendor and architecture,
// e.g. "intel"/"gen-12lp", "apple"/"metal-3", "arm"/"valhall", "qualcomm"/"adreno-7xx").
const INTEGRATED =
  /\b(intel|apple|arm|qualcomm|imagination|mali|adreno|powervr|uhd|iris|gen-\d+|xe-lpg?|rdna-?\d?-?igpu|vega[ -]?\d+ graphics|radeon(\(tm\))? graphics|integrated)\b/i;
const DISCRETE_INTEL = /\b(arc|xe-hpg|alchemist|battlemage)\b/i;

/** The class of an adapter from what it says of itself (see DeviceKind). */
export function deviceKindOf(
  adapter:
    & Pick<AdapterSummary, 'vendor' | 'architecture' | 'device' | 'description' | 'isFallbackAdapter'>
    & { cpuDriver?: boolean },
): DeviceKind {
  const text = `${adapter.vendor} ${adapter.architecture} ${adapter.device} ${adapter.description}`;
  if (adapter.cpuDriver || adapter.isFallbackAdapter || CPU_DRIVER.test(text)) return 'cpu-driver';
  if (INTEGRATED.test(text) && !DISCRETE_INTEL.test(text)) return 'integrated-gpu';
  return 'discrete-gpu';
}

/**
 * The class an opened adapter is taken for: its name catches a CPU driver whose info is empty (the
 * profile used to go by the name alone), then what it says of itself (deviceKindOf).
 */
export function detectDeviceClass(adapterName: string, adapter: Parameters<typeof deviceKindOf>[0]): DeviceKind {
  return CPU_DRIVER.test(adapterName) ? 'cpu-driver' : deviceKindOf(adapter);
}

/** The device's profile: its class is the one openGpu settled on (detected, or chosen with `deviceClass`). */
export function deviceProfile(gpu: Gpu, tuned?: DeviceProfile['tuned']): DeviceProfile {
  const { maxTextureDimension2D, maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupSizeX } = gpu.limits;
  return {
    kind: gpu.deviceClass,
    adapter: gpu.adapterName,
    limits: { maxTextureDimension2D, maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupSizeX },
    features: [...gpu.features].sort(),
    ...(tuned ? { tuned } : {}),
  };
}

/** Tuned tiles for a plan (model, training or not, batch size), or undefined where none were measured. */
export type TunedLookup = (model: string, training: boolean, maxBatch: number) => DeviceProfile['tuned'] | undefined;

/** Says that a kernel refused a plan's tuned tiles, which the plan then replaced with the profile's defaults. */
export type TunedRefusal = (plan: { model: string; training: boolean; maxBatch: number }, problem: string) => void;

const tunedLookups = new WeakMap<GPUDevice, { lookup: TunedLookup; refused?: TunedRefusal }>();

/**
 * Where this device's tuned configurations come from (the tune cache, read by src/tune/cache.ts): every
 * plan made for it afterwards (Network.create, `--plan`) takes its tiles from there where it has some.
 * `refused` hears of tiles a kernel would not take (a damaged or hand-edited cache entry).
 */
export function useTunedConfigs(gpu: Gpu, lookup: TunedLookup | null, refused?: TunedRefusal): void {
  if (lookup) tunedLookups.set(gpu.device, { lookup, refused });
  else tunedLookups.delete(gpu.device);
}

/** Reports tuned tiles of one plan that a kernel refused (see useTunedConfigs). */
export function reportTunedRefusal(
  gpu: Gpu,
  plan: { model: string; training: boolean; maxBatch: number },
  problem: string,
): void {
  tunedLookups.get(gpu.device)?.refused?.(plan, problem);
}

/** The device's profile with the tuned tiles of one plan, where the tune cache has them. */
export function profileFor(gpu: Gpu, model: string, training: boolean, maxBatch: number): DeviceProfile {
  return deviceProfile(gpu, tunedLookups.get(gpu.device)?.lookup(model, training, maxBatch));
}
