import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runtime } from '../src/gpu/device.ts';
import { createBuffer, createStorageBuffer } from '../src/gpu/buffers.ts';
import { readFileSync } from 'node:fs';
import {
  compileTogether,
  getKernel,
  ShaderCompileError,
  shaderLineOrigin,
  shaderSource,
  submitDispatches,
  workgroupGrid,
} from '../src/gpu/kernel.ts';
import { readF32, writeBuffer } from '../src/gpu/buffers.ts';
import { normalize } from '../src/kernels/normalize.ts';
import { normalizeReference } from '../src/reference/normalize.ts';
import { sharedGpu } from './helpers/gpu.ts';

const test = suite('gpu device layer');

test('acquires a device on this runtime', async () => {
  const gpu = await sharedGpu();
  assert.is(gpu.runtime, runtime);
  assert.ok(gpu.adapterName.length > 0);
  assert.ok(gpu.limits.maxStorageBufferBindingSize >= 128 * 1024 * 1024, 'asked for the adapter limit');
});

test('the buffer ledger counts live bytes; destroying twice subtracts once', async () => {
  const gpu = await sharedGpu();
  const before = { ...gpu.memory };
  const a = createStorageBuffer(gpu, 'ledger.a', 1000); // rounded up to 1008
  const b = createBuffer(gpu, { label: 'ledger.b', size: 64, usage: 0x1 /* MAP_READ */ | 0x8 /* COPY_DST */ });
  assert.is(gpu.memory.liveBytes, before.liveBytes + 1008 + 64);
  assert.is(gpu.memory.liveBuffers, before.liveBuffers + 2);
  assert.ok(gpu.memory.peakBytes >= gpu.memory.liveBytes);
  a.destroy();
  a.destroy();
  assert.is(gpu.memory.liveBytes, before.liveBytes + 64);
  b.destroy();
  assert.equal({ live: gpu.memory.liveBytes, count: gpu.memory.liveBuffers }, {
    live: before.liveBytes,
    count: before.liveBuffers,
  });
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

test('compileTogether: kernels asked for inside compile at once and are ready, and run, when it returns', async () => {
  const gpu = await sharedGpu();
  const counts = [4999, 5001, 5003, 5007]; // sizes no other test compiles, so not cached yet
  const pixels = counts.map((count) => createStorageBuffer(gpu, 'test.pixels', count));
  const outputs = counts.map((count) => createStorageBuffer(gpu, 'test.normalized', count * 4));
  try {
    const dispatches = await compileTogether(
      gpu,
      () => Promise.all(counts.map((count, i) => normalize(gpu, { count }, pixels[i], outputs[i]))),
    );
    const bytes = counts.map((count) => Uint8Array.from({ length: count }, (_, j) => (j * 37) % 256));
    bytes.forEach((b, i) => writeBuffer(gpu, pixels[i], b));
    submitDispatches(gpu, dispatches);
    for (const [i, count] of counts.entries()) {
      const got = await readF32(gpu, outputs[i], count);
      const want = normalizeReference(bytes[i]);
      for (let j = 0; j < count; j++) {
        assert.ok(Math.abs(got[j] - want[j]) <= 1e-6 * Math.abs(want[j]) + 1e-6, `count ${count}, element ${j}`);
      }
    }
  } finally {
    for (const b of [...pixels, ...outputs]) b.destroy();
  }
});

test('compileTogether: a pipeline that fails to compile fails the scope with the file it came from, and again when asked again', async () => {
  const gpu = await sharedGpu();
  const bad = {
    shader: 'normalize',
    bindings: ['read', 'read_write'] as const,
    constants: { COUNT: 3, NO_SUCH_OVERRIDE: 1 },
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await compileTogether(gpu, async () => [await getKernel(gpu, bad)]);
      assert.unreachable('the scope should fail');
    } catch (err) {
      assert.instance(err, ShaderCompileError, `attempt ${attempt}: ${err}`);
      assert.match((err as Error).message, /shaders\/normalize\.wgsl/);
    }
  }
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

test('kernels that share code get it pasted in where they include it', () => {
  for (const name of ['matmul_texture', 'conv2d_forward_implicit_gemm']) {
    const source = shaderSource(name);
    assert.not.match(source, /^\/\/ #include "/m, `${name}: an include was left unexpanded`);
    assert.is(
      source.match(/^fn dotRow\(/gm)?.length,
      1,
      `${name}: dotRow once, from shaders/include/register_block.wgsl`,
    );
  }
});

// Tests run from the project's root.
test('compile errors name the file and line a line was written on, included files included', () => {
  const source = shaderSource('matmul_texture').split('\n');
  const dotRow = source.findIndex((line) => line.startsWith('fn dotRow(')) + 1;
  const origin = shaderLineOrigin('matmul_texture', dotRow);
  assert.match(origin, /^shaders\/include\/register_block\.wgsl:\d+$/);
  const includeLine = Number(origin.split(':')[1]);
  assert.ok(
    readFileSync('shaders/include/register_block.wgsl', 'utf8').split('\n')[includeLine - 1]
      .startsWith('fn dotRow('),
    `${origin} holds fn dotRow`,
  );
  // The kernel's own lines after the include keep their numbers in its file.
  const main = source.findIndex((line) => line.startsWith('fn main(')) + 1;
  const mainOrigin = shaderLineOrigin('matmul_texture', main);
  const own = readFileSync('shaders/matmul_texture.wgsl', 'utf8').split('\n');
  assert.is(mainOrigin, `shaders/matmul_texture.wgsl:${own.findIndex((line) => line.startsWith('fn main(')) + 1}`);
});

test('workgroupGrid stays within 65535 per dimension and covers the count', () => {
  for (const count of [1, 65535, 65536, 200000, 1 << 24]) {
    const [x, y] = workgroupGrid(count);
    assert.ok(x <= 65535 && y <= 65535 && x * y >= count, `count ${count}`);
  }
});

test.run();
