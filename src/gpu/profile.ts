// What the planner (src/nn/planner.ts) may know about a device, as plain data: the class of device,
// the limits and features its decisions depend on, and any tuned tile configurations. Built from an
// open device here, or by hand in the planner's GPU-free tests.
import type { Gpu } from './device.ts';

/** CPU drivers (lavapipe/llvmpipe, SwiftShader) run shaders on the host's cores; everything else is a GPU. */
export type DeviceKind = 'cpu-driver' | 'gpu';

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
  /** Tile configurations measured on this device, by `<node>.<role>` (e.g. "conv1.forward"); override the rules. */
  tuned?: Record<string, Record<string, number>>;
}

const CPU_DRIVER = /llvmpipe|lavapipe|swiftshader|softpipe/i;

export function deviceProfile(gpu: Gpu, tuned?: DeviceProfile['tuned']): DeviceProfile {
  const { maxTextureDimension2D, maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupSizeX } = gpu.limits;
  return {
    kind: CPU_DRIVER.test(gpu.adapterName) ? 'cpu-driver' : 'gpu',
    adapter: gpu.adapterName,
    limits: { maxTextureDimension2D, maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupSizeX },
    features: [...gpu.features].sort(),
    ...(tuned ? { tuned } : {}),
  };
}
