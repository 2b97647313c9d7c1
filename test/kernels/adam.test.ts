import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import { ADAM_DEFAULTS, ADAM_UNIFORM_BYTES, type AdamOptions, adamStep, adamUniforms } from '../../src/kernels/adam.ts';
import { adamReference, type AdamState } from '../../src/reference/adam.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import type { Gpu } from '../../src/gpu/device.ts';
import { createStorageBuffer, createUniformBuffer, writeBuffer } from '../../src/gpu/buffers.ts';
import { f32Buffer, readF32, sharedGpu } from '../helpers/gpu.ts';
import { assertClose, assertExactlyEqual, assertRejects, testSeed } from '../helpers/compare.ts';

const test = suite('adam');

interface GpuAdam {
  uniforms: GPUBuffer;
  param: GPUBuffer;
  grad: GPUBuffer;
  m: GPUBuffer;
  v: GPUBuffer;
}

function upload(gpu: Gpu, state: { param: ArrayLike<number>; m: ArrayLike<number>; v: ArrayLike<number> }): GpuAdam {
  return {
    uniforms: createUniformBuffer(gpu, 'adam uniforms', ADAM_UNIFORM_BYTES),
    param: f32Buffer(gpu, 'param', state.param),
    grad: createStorageBuffer(gpu, 'grad', state.param.length * 4),
    m: f32Buffer(gpu, 'adam m', state.m),
    v: f32Buffer(gpu, 'adam v', state.v),
  };
}

async function gpuStep(
  gpu: Gpu,
  buffers: GpuAdam,
  count: number,
  options: AdamOptions,
  step: number,
  grad: Float32Array,
) {
  writeBuffer(gpu, buffers.grad, grad);
  writeBuffer(gpu, buffers.uniforms, new Uint8Array(adamUniforms(options, step)));
  submitDispatches(
    gpu,
    await adamStep(gpu, count, options, buffers.uniforms, buffers.param, buffers.grad, buffers.m, buffers.v),
  );
}

async function download(gpu: Gpu, buffers: GpuAdam, count: number) {
  return {
    param: await readF32(gpu, buffers.param, count),
    m: await readF32(gpu, buffers.m, count),
    v: await readF32(gpu, buffers.v, count),
  };
}

const destroy = (buffers: GpuAdam) => Object.values(buffers).forEach((b: GPUBuffer) => b.destroy());

/** Mid-training state: random parameters and moments (v > 0), all exactly representable in f32. */
function randomState(rng: Rng, count: number): AdamState {
  const f64 = (a: Float32Array) => Float64Array.from(a);
  const v = new Float32Array(count);
  for (let i = 0; i < count; i++) v[i] = 1e-4 * rng.next() ** 2;
  return { param: f64(rng.f32(count)), m: f64(rng.f32(count, -0.01, 0.01)), v: f64(v) };
}

const OPTION_SETS: [string, AdamOptions][] = [
  ['defaults', ADAM_DEFAULTS],
  ['lr 0.01, betas 0.8/0.99, eps 1e-6, weight decay 0.05', {
    lr: 0.01,
    beta1: 0.8,
    beta2: 0.99,
    eps: 1e-6,
    weightDecay: 0.05,
  }],
  ['AdamW: decoupled weight decay 0.05', { ...ADAM_DEFAULTS, lr: 0.01, weightDecay: 0.05, decoupled: true }],
];

for (const [optionsName, options] of OPTION_SETS) {
  // One vec4; a partial workgroup; several workgroups with a partial last one.
  for (const count of [4, 1020, 4 * 2049]) {
    test(`5 steps from random moments match the float64 reference, ${count} parameters, ${optionsName}`, async () => {
      const seed = testSeed();
      const gpu = await sharedGpu();
      const rng = new Rng(seed);
      const state = randomState(rng, count);
      const buffers = upload(gpu, state);
      const firstStep = 1 + rng.int(100); // resuming mid-run as well as from the start
      for (let step = firstStep; step < firstStep + 5; step++) {
        const grad = rng.f32(count, -0.1, 0.1);
        adamReference(options, step, state, grad);
        await gpuStep(gpu, buffers, count, options, step, grad);
      }
      const actual = await download(gpu, buffers, count);
      const what = `${optionsName} count=${count} steps ${firstStep}.. seed=${seed}`;
      assertClose(actual.param, state.param, `param ${what}`);
      assertClose(actual.m, state.m, `m ${what}`);
      assertClose(actual.v, state.v, `v ${what}`);
      destroy(buffers);
    });
  }
}

test('first step from zero moments matches hand-computed values', async () => {
  const gpu = await sharedGpu();
  const options = { ...ADAM_DEFAULTS, lr: 0.01 };
  const count = 4;
  const buffers = upload(gpu, { param: [1, -2, 0.5, 3], m: [0, 0, 0, 0], v: [0, 0, 0, 0] });
  await gpuStep(gpu, buffers, count, options, 1, new Float32Array([0.5, -0.25, 0, 1e-3]));
  const actual = await download(gpu, buffers, count);
  // At t = 1 the bias corrections cancel: param -= lr * g / (|g| + eps), i.e. about lr * sign(g).
  assertClose(actual.param, [
    1 - 0.01 * (0.5 / (0.5 + 1e-8)),
    -2 + 0.01 * (0.25 / (0.25 + 1e-8)),
    0.5,
    3 - 0.01 * (1e-3 / (1e-3 + 1e-8)),
  ], 'param');
  assertClose(actual.m, [0.05, -0.025, 0, 1e-4], 'm = 0.1 g');
  assertClose(actual.v, [0.00025, 0.0000625, 0, 1e-9], 'v = 0.001 g^2');
  destroy(buffers);
});

test('weight decay adds weightDecay * param to the gradient before the moments', async () => {
  const gpu = await sharedGpu();
  const options = { ...ADAM_DEFAULTS, weightDecay: 0.1 };
  const buffers = upload(gpu, { param: [2, -4, 0, 1], m: [0, 0, 0, 0], v: [0, 0, 0, 0] });
  await gpuStep(gpu, buffers, 4, options, 1, new Float32Array([0, 0, 0, -0.1]));
  const actual = await download(gpu, buffers, 4);
  assertClose(actual.m, [0.02, -0.04, 0, 0], 'm = 0.1 (g + 0.1 p)');
  assertClose(actual.param, [2 - 1e-3, -4 + 1e-3, 0, 1], 'param');
  destroy(buffers);
});

test('updates only ranges of larger buffers, leaving the rest alone', async () => {
  const seed = testSeed();
  const gpu = await sharedGpu();
  const rng = new Rng(seed);
  const count = 100;
  const total = 64 + count + 28; // the range starts at 256 bytes and stops short of the end
  const state = randomState(rng, total);
  const before = {
    param: Float32Array.from(state.param),
    m: Float32Array.from(state.m),
    v: Float32Array.from(state.v),
  };
  const buffers = upload(gpu, state);
  const grad = rng.f32(total);
  writeBuffer(gpu, buffers.grad, grad);
  writeBuffer(gpu, buffers.uniforms, new Uint8Array(adamUniforms(ADAM_DEFAULTS, 3)));
  const range = (buffer: GPUBuffer) => ({ buffer, offset: 256, size: count * 4 });
  submitDispatches(
    gpu,
    await adamStep(
      gpu,
      count,
      ADAM_DEFAULTS,
      buffers.uniforms,
      range(buffers.param),
      range(buffers.grad),
      range(buffers.m),
      range(buffers.v),
    ),
  );
  const actual = await download(gpu, buffers, total);
  const expected: AdamState = {
    param: state.param.slice(64, 64 + count),
    m: state.m.slice(64, 64 + count),
    v: state.v.slice(64, 64 + count),
  };
  adamReference(ADAM_DEFAULTS, 3, expected, grad.subarray(64, 64 + count));
  assertClose(actual.param.subarray(64, 64 + count), expected.param, `param in range seed=${seed}`);
  for (const key of ['param', 'm', 'v'] as const) {
    assertExactlyEqual(actual[key].subarray(0, 64), before[key].subarray(0, 64), `${key} before the range`);
    assertExactlyEqual(actual[key].subarray(64 + count), before[key].subarray(64 + count), `${key} after the range`);
  }
  destroy(buffers);
});

test('a step at the model size (1.1 million parameters) matches the reference', async () => {
  const seed = testSeed();
  const gpu = await sharedGpu();
  const rng = new Rng(seed);
  const count = 1_100_032;
  const state = randomState(rng, count);
  const buffers = upload(gpu, state);
  const grad = rng.f32(count, -0.1, 0.1);
  adamReference(ADAM_DEFAULTS, 7, state, grad);
  await gpuStep(gpu, buffers, count, ADAM_DEFAULTS, 7, grad);
  const actual = await download(gpu, buffers, count);
  assertClose(actual.param, state.param, `param seed=${seed}`);
  assertClose(actual.v, state.v, `v seed=${seed}`);
  destroy(buffers);
});

test('uniforms hold the float64 bias corrections, rounded to f32', () => {
  const words = new Float32Array(adamUniforms({ ...ADAM_DEFAULTS, lr: 0.002 }, 3));
  assert.is(words.length * 4, ADAM_UNIFORM_BYTES);
  assert.is(words[0], Math.fround(0.002 / (1 - 0.9 ** 3)));
  assert.is(words[1], Math.fround(Math.sqrt(1 - 0.999 ** 3)));
});

test('bad arguments are refused with a message saying what is wrong', async () => {
  const gpu = await sharedGpu();
  const big = createStorageBuffer(gpu, 'big', 64);
  const uniforms = createUniformBuffer(gpu, 'uniforms', ADAM_UNIFORM_BYTES);
  const cases: [() => unknown, RegExp][] = [
    [() => adamUniforms(ADAM_DEFAULTS, 0), /step must be an integer >= 1/],
    [() => adamUniforms({ ...ADAM_DEFAULTS, beta2: 1 }, 1), /beta2 must be in \[0, 1\)/],
    [() => adamStep(gpu, 10, ADAM_DEFAULTS, uniforms, big, big, big, big), /multiple of 4/],
    [() => adamStep(gpu, 32, ADAM_DEFAULTS, uniforms, big, big, big, big), /param needs 32 words/],
    [
      () => adamStep(gpu, 8, ADAM_DEFAULTS, { buffer: uniforms, size: 8 }, big, big, big, big),
      /uniforms needs 16 bytes/,
    ],
  ];
  for (const [call, message] of cases) await assertRejects(call, message);
  big.destroy();
  uniforms.destroy();
});

test('the reference matches a direct float64 evaluation of the formulas', () => {
  // Independent of the loop in adamReference: two steps written out by hand for one parameter.
  const o = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };
  const state: AdamState = { param: new Float64Array([1]), m: new Float64Array([0]), v: new Float64Array([0]) };
  adamReference(o, 1, state, [0.2]);
  adamReference(o, 2, state, [-0.3]);
  let p = 1;
  let g = 0.2 + 0.1 * p;
  let m = 0.1 * g;
  let v = 0.001 * g * g;
  p -= (0.01 / 0.1) * m / (Math.sqrt(v) / Math.sqrt(0.001) + 1e-8);
  g = -0.3 + 0.1 * p;
  m = 0.9 * m + 0.1 * g;
  v = 0.999 * v + 0.001 * g * g;
  p -= (0.01 / (1 - 0.81)) * m / (Math.sqrt(v) / Math.sqrt(1 - 0.998001) + 1e-8);
  assertClose(state.param, [p], 'param', 1e-12);
  assertClose(state.m, [m], 'm', 1e-12);
  assertClose(state.v, [v], 'v', 1e-12);
});

test.run();
