// batch norm (1d and 2d) on the GPU against its float64 reference: batch statistics, running update,
// forward with batch or running statistics (+ReLU), and the backward; the reference's backward against
// finite differences; results bit-identical from run to run (deterministic reductions).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import {
  batchNormBackward,
  batchNormForward,
  type BatchNormShape,
  batchNormStats,
} from '../../src/kernels/batchnorm.ts';
import {
  batchNormBackwardReference,
  batchNormForwardReference,
  batchNormRunningReference,
  batchNormStatsReference,
} from '../../src/reference/batchnorm.ts';
import { reluForwardReference } from '../../src/reference/relu.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import { checkKernel } from '../helpers/kernel.ts';
import { assertClose, assertRejects, numericGradient, testSeed } from '../helpers/compare.ts';
import { f32Buffer } from '../helpers/gpu.ts';

const test = suite('batchnorm');

// Planes of a multiple of 4 values run the vec4 forms of the elementwise kernels, the others the scalar ones.
const SHAPES: [string, BatchNormShape][] = [
  ['2d, MNIST conv output batch 8 (vec4)', { batch: 8, channels: 16, spatial: 28 * 28 }],
  ["2d, 2x2 planes as best's last conv, 37 channels, batch 5 (vec4)", { batch: 5, channels: 37, spatial: 4 }],
  ['2d, 6x2 planes, more values per channel than invocations times 100 (vec4)', {
    batch: 600,
    channels: 2,
    spatial: 12,
  }],
  ['2d, odd 5x7 planes, 3 channels, batch 3', { batch: 3, channels: 3, spatial: 35 }],
  ['1d, 65 features, batch 5', { batch: 5, channels: 65, spatial: 1 }],
  ['1d, batch 2 (unbiased variance m/(m-1) = 2)', { batch: 2, channels: 7, spatial: 1, momentum: 0.3, eps: 1e-3 }],
  ['2d, one image of 1x1 planes', { batch: 1, channels: 4, spatial: 1 }],
  ['2d, more values per channel than invocations times 100', { batch: 17, channels: 2, spatial: 401 }],
];

const RUN_OFFSETS = { variance: 128, count: 256 };

function data(shape: BatchNormShape, seed: number) {
  const rng = new Rng(seed);
  const count = shape.batch * shape.channels * shape.spatial;
  // Offset and scaled per channel, as real activations are: the variance must not cancel.
  const x = Float32Array.from(
    { length: count },
    (_, i) => 3 + 2 * Math.floor(i / shape.spatial) % shape.channels + rng.uniform(-2, 2),
  );
  const running = new Float32Array(257);
  for (let c = 0; c < shape.channels; c++) {
    running[c] = rng.uniform(-1, 1);
    running[128 + c] = rng.uniform(0.5, 2);
  }
  running[256] = 7;
  return { x, running, weight: rng.f32(shape.channels, -1.5, 1.5), bias: rng.f32(shape.channels), gy: rng.f32(count) };
}

for (const [name, shape] of SHAPES) {
  test(`statistics and running update match the reference: ${name}`, async () => {
    const seed = testSeed();
    const gpu = await sharedGpu();
    const { x, running } = data(shape, seed);
    const C = shape.channels;
    const { mean, variance } = batchNormStatsReference(shape, x);
    const updated = batchNormRunningReference(
      shape,
      mean,
      variance,
      running.subarray(0, C),
      running.subarray(128, 128 + C),
    );
    const expectedRunning = Float64Array.from(running);
    expectedRunning.set(updated.runningMean, 0);
    expectedRunning.set(updated.runningVar, 128);
    expectedRunning[256] = 8;
    // Untouched words between the ranges keep their values (the poisoned stats have none).
    await checkKernel(gpu, {
      what: `${name} seed ${seed}`,
      inputs: { x, running },
      outputs: { stats: 2 * C },
      dispatch: (b) => batchNormStats(gpu, shape, b.x, b.stats, b.running, RUN_OFFSETS),
      expected: { stats: Float64Array.from([...mean, ...variance]) },
      tolerance: 1e-5,
    });
    const again = await checkKernel(gpu, {
      what: `${name} running seed ${seed}`,
      inputs: { x, runningIn: running },
      outputs: { stats: 2 * C, running: 257 },
      dispatch: async (b) => [
        ...(await copy(gpu, b.runningIn, b.running, 257)),
        ...(await batchNormStats(gpu, shape, b.x, b.stats, b.running, RUN_OFFSETS)),
      ],
      expected: { stats: Float64Array.from([...mean, ...variance]), running: expectedRunning },
      tolerance: 1e-5,
    });
    assert.is(again.running[256], 8, 'num_batches_tracked counts the step');
  });

  for (const relu of [false, true]) {
    test(`forward${relu ? '+relu' : ''} with batch and with running statistics: ${name}`, async () => {
      const seed = testSeed();
      const gpu = await sharedGpu();
      const { x, running, weight, bias } = data(shape, seed);
      const C = shape.channels;
      const act = (y: Float64Array) => (relu ? reluForwardReference(y) : y);
      const { mean, variance } = batchNormStatsReference(shape, x);
      const stats = Float32Array.from([...mean, ...variance]);
      await checkKernel(gpu, {
        what: `${name} batch statistics seed ${seed}`,
        inputs: { x, stats, weight, bias },
        outputs: { y: x.length },
        dispatch: (b) =>
          batchNormForward(gpu, shape, { relu, offsets: { variance: C } }, b.x, b.stats, b.weight, b.bias, b.y),
        expected: {
          y: act(batchNormForwardReference(shape, x, stats.subarray(0, C), stats.subarray(C), weight, bias)),
        },
      });
      await checkKernel(gpu, {
        what: `${name} running statistics seed ${seed}`,
        inputs: { x, running, weight, bias },
        outputs: { y: x.length },
        dispatch: (b) =>
          batchNormForward(gpu, shape, { relu, offsets: { variance: 128 } }, b.x, b.running, b.weight, b.bias, b.y),
        expected: {
          y: act(
            batchNormForwardReference(shape, x, running.subarray(0, C), running.subarray(128, 128 + C), weight, bias),
          ),
        },
      });
    });
  }

  test(`backward matches the reference: ${name}`, async () => {
    const seed = testSeed();
    const gpu = await sharedGpu();
    const { x, weight, gy } = data(shape, seed);
    const C = shape.channels;
    const { mean, variance } = batchNormStatsReference(shape, x);
    const stats = Float32Array.from([...mean, ...variance]);
    const ref = batchNormBackwardReference(shape, x, weight, gy);
    const grads = new Float64Array(128 + C).fill(NaN);
    grads.set(ref.gradWeight, 0);
    grads.set(ref.gradBias, 128);
    await checkKernel(gpu, {
      what: `${name} seed ${seed}`,
      inputs: { x, gy, stats, weight },
      outputs: { grads: 128 + C, gx: x.length },
      dispatch: (b) => batchNormBackward(gpu, shape, 128, b.x, b.gy, b.stats, b.weight, b.grads, b.gx),
      expected: { grads, gx: ref.gradInput },
      // The input gradient is a difference of similar terms. One value per channel makes it exactly zero;
      // two make x̂ = ±1 up to eps, so it is eps-sized (1e-5 of its terms) and float32's rounding of those
      // terms (1.2e-7) bounds its relative error near 1.2e-2, not 1e-4 (seen: 1.6e-4 at seed 1630030891).
      tolerance: {
        grads: 1e-5,
        gx: shape.batch * shape.spatial === 1 ? 'exact' : shape.batch * shape.spatial === 2 ? 2e-2 : 1e-4,
      },
    });
  });
}

for (const spatial of [123, 124]) {
  test(`reductions are deterministic: the same bits twice (${spatial % 4 ? 'scalar' : 'vec4'} input gradient)`, async () => {
    const gpu = await sharedGpu();
    const shape = { batch: 9, channels: 5, spatial };
    const { x, weight, gy, running } = data(shape, 5);
    const { mean, variance } = batchNormStatsReference(shape, x);
    const ref = batchNormBackwardReference(shape, x, weight, gy);
    const grads = new Float64Array(133).fill(NaN);
    grads.set(ref.gradWeight, 0);
    grads.set(ref.gradBias, 128);
    const runs: Record<string, Float32Array | Uint32Array>[] = [];
    for (let r = 0; r < 2; r++) {
      runs.push(
        await checkKernel(gpu, {
          what: `run ${r}`,
          inputs: { x, gy, weight, running },
          outputs: { stats: 10, grads: 133, gx: x.length },
          dispatch: async (b) => [
            ...(await batchNormStats(gpu, shape, b.x, b.stats, b.running, RUN_OFFSETS)),
            ...(await batchNormBackward(gpu, shape, 128, b.x, b.gy, b.stats, b.weight, b.grads, b.gx)),
          ],
          expected: { stats: Float64Array.from([...mean, ...variance]), grads, gx: ref.gradInput },
          tolerance: 1e-4,
        }),
      );
    }
    for (const key of ['stats', 'grads', 'gx'] as const) {
      assert.equal([...runs[0][key]].map(String), [...runs[1][key]].map(String), key);
    }
  });
}

test('the backward reference agrees with float64 finite differences (batch statistics depend on the input)', () => {
  const seed = testSeed();
  const shape = { batch: 3, channels: 2, spatial: 4 };
  const { weight } = data(shape, seed);
  const rng = new Rng(seed + 1);
  const x = Array.from({ length: 24 }, () => rng.uniform(-2, 2));
  const w = Array.from(weight);
  const b = [0.3, -0.2];
  const probe = Array.from({ length: 24 }, () => rng.uniform(-1, 1));
  const loss = () => {
    const { mean, variance } = batchNormStatsReference(shape, x);
    return batchNormForwardReference(shape, x, mean, variance, w, b).reduce((s, v, i) => s + probe[i] * v, 0);
  };
  const ref = batchNormBackwardReference(shape, x, w, probe);
  assertClose(ref.gradInput, numericGradient(x, loss, 1e-6), `input seed ${seed}`, 1e-6);
  assertClose(ref.gradWeight, numericGradient(w, loss, 1e-6), `weight seed ${seed}`, 1e-6);
  assertClose(ref.gradBias, numericGradient(b, loss, 1e-6), `bias seed ${seed}`, 1e-6);
});

test('bad shapes and small bindings are refused, naming them', async () => {
  const gpu = await sharedGpu();
  const small = f32Buffer(gpu, 'small', new Float32Array(4));
  const big = f32Buffer(gpu, 'big', new Float32Array(256));
  await assertRejects(
    () =>
      batchNormForward(
        gpu,
        { batch: 2, channels: 3, spatial: 4 },
        { offsets: { variance: 3 } },
        big,
        big,
        big,
        big,
        small,
      ),
    /batchNormForward: output needs 24 words/,
  );
  await assertRejects(
    () => batchNormStats(gpu, { batch: 0, channels: 3, spatial: 4 }, big, big, small, RUN_OFFSETS),
    /batch must be a positive integer/,
  );
  await assertRejects(
    () =>
      batchNormForward(
        gpu,
        { batch: 1, channels: 1, spatial: 1, eps: 0 },
        { offsets: { variance: 1 } },
        big,
        big,
        big,
        big,
        big,
      ),
    /eps must be/,
  );
  small.destroy();
  big.destroy();
});

/** Copies `from` into `to` in a submit of its own, ahead of the helper's dispatches; returns no dispatch. */
async function copy(gpu: Awaited<ReturnType<typeof sharedGpu>>, from: GPUBuffer, to: GPUBuffer, words: number) {
  const encoder = gpu.device.createCommandEncoder();
  encoder.copyBufferToBuffer(from, 0, to, 0, words * 4);
  gpu.device.queue.submit([encoder.finish()]);
  return [];
}

test.run();
