import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runtime } from '../src/gpu/device.ts';
import { getKernel, ShaderCompileError, workgroupGrid } from '../src/gpu/kernel.ts';
import { sharedGpu } from './helpers/gpu.ts';

const test = suite('gpu device layer');

test('acquires a device on this runtime', async () => {
  const gpu = await sharedGpu();
  assert.is(gpu.runtime, runtime);
  assert.ok(gpu.adapterName.length > 0);
  assert.ok(gpu.limits.maxStorageBufferBindingSize >= 128 * 1024 * 1024, 'asked for the adapter limit');
});

test('pipelines are cached per specialization', async () => {
  const gpu = await sharedGpu();
  const spec = { shader: 'normalize', bindings: ['read', 'read_write'] as const, constants: { COUNT: 7 } };
  const a = await getKernel(gpu, spec);
  const b = await getKernel(gpu, { ...spec, constants: { COUNT: 7 } });
  const c = await getKernel(gpu, { ...spec, constants: { COUNT: 8 } });
  assert.is(a, b);
  assert.is.not(a, c);
});

test('a missing kernel names the file it looked for', async () => {
  const gpu = await sharedGpu();
  try {
    await getKernel(gpu, { shader: 'no_such_kernel', bindings: [] });
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /no_such_kernel\.wgsl/);
  }
});

test('workgroupGrid stays within 65535 per dimension and covers the count', () => {
  for (const count of [1, 65535, 65536, 200000, 1 << 24]) {
    const [x, y] = workgroupGrid(count);
    assert.ok(x <= 65535 && y <= 65535 && x * y >= count, `count ${count}`);
  }
});

test.run();
