// Exits 0 when this runtime finds a WebGPU adapter, 1 otherwise. Used by .ci/run to decide whether
// the CPU Vulkan driver (Mesa lavapipe) must be installed.
let gpu;
if ('Deno' in globalThis) {
  gpu = globalThis.navigator?.gpu;
} else {
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  gpu = create([]);
}
const adapter = gpu ? await gpu.requestAdapter() : null;
if (!adapter) {
  console.error('no WebGPU adapter');
  process.exit(1);
}
const device = await adapter.requestDevice();
console.error(`adapter: ${adapter.info?.description || adapter.info?.device || 'unknown'}`);
device.destroy();
process.exit(0);
