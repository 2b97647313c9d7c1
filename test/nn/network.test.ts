// The whole network on the GPU against the whole-network CPU reference: logits, loss and every
// parameter gradient, for the tutorial model and for a model with stride, padding and a standalone ReLU.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readF32, readU32 } from '../../src/gpu/buffers.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import { deviceProfile } from '../../src/gpu/profile.ts';
import { dispatchesOf, Network } from '../../src/nn/network.ts';
import { buildPlan, choicesOf, type PlanChoices, planNetwork } from '../../src/nn/planner.ts';
import { initParameters } from '../../src/nn/parameters.ts';
import { DIGIT, FAST, type ModelSpec } from '../../src/nn/spec.ts';
import { networkReference } from '../../src/reference/network.ts';
import { Rng } from '../../src/util/random.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import type { Gpu } from '../../src/gpu/device.ts';
import { assertClose, assertExactlyEqual, testSeed } from '../helpers/compare.ts';
import { assertGradients, dropoutMasksAt, perturbInitialized, roundingSensitivity } from './gradient-check.ts';
import { testSplit } from '../helpers/mnist.ts';

const test = suite('network (GPU) vs CPU reference');

const STRIDED: ModelSpec = {
  name: 'strided',
  input: [1, 28, 28],
  classes: 10,
  layers: [
    { kind: 'conv2d', name: 'conv1', outChannels: 6, kernel: 3, stride: 2, padding: 1 },
    { kind: 'maxpool2d', kernel: 3, stride: 2 },
    { kind: 'relu' },
    { kind: 'conv2d', name: 'conv2', outChannels: 8, kernel: 3, padding: 1 },
    { kind: 'relu' },
    { kind: 'flatten' },
    { kind: 'linear', name: 'fc', outFeatures: 10 },
  ],
};

/** Batches whose forward comes closer than this to a kink are drawn again (activations are ~0.1-10). */
const KINK_MARGIN = 1e-4;

async function compare(model: ModelSpec, batch: number, maxBatch: number, realImages: boolean, choices?: PlanChoices) {
  const seed = testSeed();
  const gpu = await sharedGpu();
  const rng = new Rng(seed);
  const plan = choices && buildPlan(model, { training: true, maxBatch }, deviceProfile(gpu), choices);
  const network = await Network.create(gpu, model, { maxBatch, training: true, plan });
  try {
    const flat = initParameters(network.layout, seed);
    perturbInitialized(network.layout, flat, rng);
    network.setParameters(flat);
    network.setStep(seed, 3);
    const size = network.inputSize;
    const dropoutMasks = dropoutMasksAt(network.layers, batch, seed, 3);
    const data = realImages ? await testSplit('train') : undefined;
    let best: { pixels: Uint8Array; labels: Uint32Array; expected: ReturnType<typeof networkReference> } | undefined;
    let draws = 0;
    // A batch whose forward passes a ReLU or max-pool kink closer than float32 resolves is drawn again:
    // there the GPU may rightly route a gradient the other way (see kinkMargin). With tens of thousands
    // of activations a margin of KINK_MARGIN is not always found, so the draw farthest from any kink wins.
    do {
      let pixels: Uint8Array;
      let labels: Uint32Array;
      if (data) {
        const start = rng.int(data.count - batch);
        pixels = data.images.slice(start * size, (start + batch) * size);
        labels = Uint32Array.from(data.labels.subarray(start, start + batch));
      } else {
        pixels = new Uint8Array(batch * size).map(() => rng.int(256));
        labels = new Uint32Array(batch).map(() => rng.int(model.classes));
      }
      const expected = networkReference(model, network.layout.split(flat), pixels, labels, { dropoutMasks });
      if (!best || expected.kinkMargin > best.expected.kinkMargin) best = { pixels, labels, expected };
    } while (best.expected.kinkMargin < KINK_MARGIN && ++draws < 20);
    const { pixels, labels, expected } = best;
    network.writeBatch(pixels, labels);
    const plan = await network.plan(batch);
    submitDispatches(gpu, dispatchesOf(plan.forward, plan.loss, plan.backward));
    const what = `${model.name} batch ${batch} seed ${seed} (draw ${draws + 1}, kink margin ${
      expected.kinkMargin.toExponential(1)
    })`;

    const losses = await readF32(gpu, network.sampleLoss, batch);
    assertClose([losses.reduce((a, b) => a + b, 0) / batch], [expected.loss], `${what}: loss`);
    const counts = network.layout.slots.filter((s) => s.name.endsWith('.num_batches_tracked'));
    const params = await readF32(gpu, network.params, network.layout.totalElements);
    for (const slot of counts) assert.is(params[slot.offset], 1, `${what}: ${slot.name} counts the batch`);
    const stats = await readU32(gpu, network.stats, 2);
    assert.ok(stats[1] <= batch, `${what}: correct count ${stats[1]}`);
    const grads = network.layout.split(await readF32(gpu, network.grads!, network.layout.totalElements));
    const sensitivity = roundingSensitivity(
      model,
      network.layout.split(flat),
      pixels,
      labels,
      { dropoutMasks },
      expected.gradients,
      rng,
    );
    assertGradients(what, network.layout, grads, expected.gradients, sensitivity);
  } finally {
    network.destroy();
  }
}

test('digit, batch 4 of real digits: loss and all 8 parameter gradients', () => compare(DIGIT, 4, 64, true));
test('digit, batch 1 (partial batch of a 64 network)', () => compare(DIGIT, 1, 64, true));
test('digit, batch 7 of random pixels', () => compare(DIGIT, 7, 7, false));
test('digit with conv1 forward, fc1 forward and weight gradient from textures, batch 5 of 8', () =>
  compare(DIGIT, 5, 8, true, {
    nodes: { conv1: { variant: 'texture' }, fc1: { variant: 'texture', weightGradient: 'texture' } },
  }));
test('a model with stride, padding, overlapping pool and a standalone ReLU needs no new kernel', () =>
  compare(STRIDED, 5, 8, true));

// Standalone ReLUs whose backward the next layer fuses: one before an overlapping max-pool, one before a
// linear layer (through flatten); and a linear + ReLU whose consumer is another linear layer.
const RELU_FUSIONS: ModelSpec = {
  name: 'relu-fusions',
  input: [1, 28, 28],
  classes: 10,
  layers: [
    { kind: 'conv2d', name: 'conv1', outChannels: 4, kernel: 5, stride: 2 },
    { kind: 'maxpool2d', kernel: 2 },
    { kind: 'relu' },
    { kind: 'maxpool2d', kernel: 3, stride: 1 },
    { kind: 'relu' },
    { kind: 'flatten' },
    { kind: 'linear', name: 'fc1', outFeatures: 12 },
    { kind: 'relu' },
    { kind: 'linear', name: 'fc2', outFeatures: 10 },
  ],
};
// Batch norm (2d, with its ReLU fused, and 1d), dropout with the mask the GPU draws, average pooling
// and global average pooling: every parameter gradient against the float64 reference.
const NORMED: ModelSpec = {
  name: 'normed',
  input: [1, 28, 28],
  classes: 10,
  layers: [
    { kind: 'conv2d', name: 'conv1', outChannels: 6, kernel: 3, padding: 1 },
    { kind: 'batchnorm2d', name: 'bn1' },
    { kind: 'relu' },
    { kind: 'avgpool2d', kernel: 2 },
    { kind: 'conv2d', name: 'conv2', outChannels: 8, kernel: 3, stride: 2 },
    { kind: 'batchnorm2d', name: 'bn2', momentum: 0.2 },
    { kind: 'relu' },
    { kind: 'dropout', p: 0.3 },
    { kind: 'avgpool2d' },
    { kind: 'flatten' },
    { kind: 'linear', name: 'fc1', outFeatures: 12 },
    { kind: 'batchnorm1d', name: 'bn3', eps: 1e-3 },
    { kind: 'relu' },
    { kind: 'dropout', p: 0.5 },
    { kind: 'linear', name: 'fc2', outFeatures: 10 },
  ],
};
test('batch norm 2d/1d, dropout (fixed mask), avgpool and global average pooling: loss and every gradient', () =>
  compare(NORMED, 6, 8, true));
/** Every smooth activation, each where its backward has an input gradient to write. */
const SMOOTH: ModelSpec = {
  name: 'smooth',
  input: [1, 28, 28],
  classes: 10,
  layers: [
    { kind: 'conv2d', name: 'conv1', outChannels: 4, kernel: 5, stride: 2 },
    { kind: 'gelu' },
    { kind: 'conv2d', name: 'conv2', outChannels: 6, kernel: 3, stride: 2 },
    { kind: 'silu' },
    { kind: 'maxpool2d', kernel: 2 },
    { kind: 'flatten' },
    { kind: 'linear', name: 'fc1', outFeatures: 24 },
    { kind: 'leakyrelu', slope: 0.1 },
    { kind: 'linear', name: 'fc2', outFeatures: 16 },
    { kind: 'tanh' },
    { kind: 'linear', name: 'fc3', outFeatures: 16 },
    { kind: 'sigmoid' },
    { kind: 'linear', name: 'fc4', outFeatures: 10 },
  ],
};

test('gelu, silu, leakyrelu, tanh and sigmoid: loss and every gradient', () => compare(SMOOTH, 5, 8, true));
test('the fast preset, batch 3 of 4: loss and every gradient', () => compare(FAST, 3, 4, true));

test("ReLU backward fused into the next layer's backward (standalone and fused ReLUs)", () =>
  compare(RELU_FUSIONS, 3, 4, true));

// A forward-only network (for big batches by default) can run fc1 and conv1 from textures, which sum in
// the same order as the buffer kernels: its losses, predictions and log-probabilities must equal the training
// network's bit for bit, for a full batch and a partial one.
test("digit forward-only (conv1 and fc1 from textures) equals the training network's forward exactly", async () => {
  const seed = testSeed();
  const gpu = await sharedGpu();
  const data = await testSplit('test');
  const maxBatch = 32;
  const forwardOnly = await Network.create(gpu, DIGIT, {
    maxBatch,
    training: false,
    plan: buildPlan(DIGIT, { training: false, maxBatch }, deviceProfile(gpu), {
      input: 'into-packed',
      nodes: { conv1: { variant: 'texture' }, fc1: { variant: 'texture' } },
    }),
  });
  const small = await Network.create(gpu, DIGIT, { maxBatch, training: false });
  const training = await Network.create(gpu, DIGIT, { maxBatch, training: true });
  try {
    const flat = initParameters(training.layout, seed);
    const size = training.inputSize;
    for (const batch of [maxBatch, 5]) {
      const outputs = [];
      for (const network of [forwardOnly, training]) {
        network.setParameters(flat);
        network.writeBatch(data.images.slice(0, batch * size), Uint32Array.from(data.labels.subarray(0, batch)));
        const plan = await network.plan(batch);
        submitDispatches(gpu, [...plan.evaluationStep, ...dispatchesOf(plan.logProbabilities)]);
        outputs.push({
          packed: plan.forward.some((op) => op.dispatches.some((d) => d.kernel.label.startsWith('pack_texture'))) &&
            plan.forward.some((op) => op.dispatches.some((d) => d.kernel.label.startsWith('conv2d_forward_texture'))),
          losses: await readF32(gpu, network.sampleLoss, batch),
          predictions: await readU32(gpu, network.predictions, batch),
          logProbs: await readF32(gpu, network.logProbs, batch * DIGIT.classes),
        });
      }
      const [fast, plain] = outputs;
      const what = `batch ${batch} of ${maxBatch}, seed ${seed}`;
      assert.ok(
        fast.packed && !plain.packed,
        `${what}: only the forward-only network runs fc1 and conv1 from textures`,
      );
      assert.not.ok(
        (await small.plan(batch)).forward.some((op) =>
          op.dispatches.some((d) => d.kernel.label.startsWith('pack_texture'))
        ),
        `${what}: a forward-only network for small batches packs by default`,
      );
      assertExactlyEqual(fast.losses, plain.losses, `${what}: losses`);
      assertExactlyEqual(fast.predictions, plain.predictions, `${what}: predictions`);
      assertExactlyEqual(fast.logProbs, plain.logProbs, `${what}: log-probabilities`);
    }
  } finally {
    forwardOnly.destroy();
    small.destroy();
    training.destroy();
  }
});

/** The plan the planner makes for evaluation's big batches, at a small maxBatch (fast to test). */
function bigBatchPlan(gpu: Gpu, model: ModelSpec, maxBatch: number) {
  const profile = deviceProfile(gpu);
  return buildPlan(
    model,
    { training: false, maxBatch },
    profile,
    choicesOf(planNetwork(model, { training: false, maxBatch: 1000 }, profile)),
  );
}

/** The kernels a plan's forward runs, by shader name. */
const forwardShaders = async (network: Network, batch: number) =>
  (await network.plan(batch)).forward.flatMap((op) => op.dispatches.map((d) => d.kernel.label.split('{')[0]));

interface ForwardOnlyCase {
  model: ModelSpec;
  batch: number;
  maxBatch: number;
  /** Shaders the forward must run, and must not. */
  runs: string[];
  skips: string[];
}

/**
 * A forward-only network with every texture path on, against the float64 reference: mean loss,
 * log-probabilities, and predictions wherever the reference's top two logits are not within rounding.
 */
async function checkForwardOnly(c: ForwardOnlyCase): Promise<void> {
  const seed = testSeed();
  const gpu = await sharedGpu();
  const rng = new Rng(seed);
  const data = await testSplit('test');
  const network = await Network.create(gpu, c.model, {
    maxBatch: c.maxBatch,
    training: false,
    plan: bigBatchPlan(gpu, c.model, c.maxBatch),
  });
  try {
    const shaders = await forwardShaders(network, c.batch);
    for (const shader of c.runs) {
      assert.ok(shaders.includes(shader), `the forward runs ${shader}: ${shaders.join(', ')}`);
    }
    for (const shader of c.skips) {
      assert.not.ok(shaders.includes(shader), `the forward runs no ${shader}: ${shaders.join(', ')}`);
    }
    const flat = initParameters(network.layout, seed);
    network.setParameters(flat);
    const start = rng.int(data.count - c.batch);
    const size = network.inputSize;
    const pixels = data.images.slice(start * size, (start + c.batch) * size);
    const labels = Uint32Array.from(data.labels.subarray(start, start + c.batch));
    network.writeBatch(pixels, labels);
    const plan = await network.plan(c.batch);
    submitDispatches(gpu, [...plan.evaluationStep, ...dispatchesOf(plan.logProbabilities)]);
    const expected = networkReference(c.model, network.layout.split(flat), pixels, labels);
    const what = `${c.model.name} batch ${c.batch} of ${c.maxBatch} from image ${start}, seed ${seed}`;
    const losses = await readF32(gpu, network.sampleLoss, c.batch);
    assertClose([losses.reduce((a, b) => a + b, 0) / c.batch], [expected.loss], `${what}: loss`);
    const classes = c.model.classes;
    const logProbs = await readF32(gpu, network.logProbs, c.batch * classes);
    const predictions = await readU32(gpu, network.predictions, c.batch);
    for (let i = 0; i < c.batch; i++) {
      const logits = Array.from(expected.logits.subarray(i * classes, (i + 1) * classes));
      const top = Math.max(...logits);
      const logSum = top + Math.log(logits.reduce((sum, v) => sum + Math.exp(v - top), 0));
      assertClose(
        logProbs.subarray(i * classes, (i + 1) * classes),
        logits.map((v) => v - logSum),
        `${what}: log-probabilities of ${i}`,
        1e-4,
      );
      const best = logits.indexOf(top);
      const margin = top - Math.max(...logits.filter((_, j) => j !== best));
      if (margin > 1e-4) assert.equal(predictions[i], best, `${what}: prediction of sample ${i}`);
    }
  } finally {
    network.destroy();
  }
}

// Evaluation's default path: conv1 from textures pools into conv2's channels-last input; conv2 as an
// implicit GEMM writes fc1's packed input. conv2 sums in another order than the buffer kernel, so
// this agrees with the float64 reference to rounding: a full batch, a partial one and batch 1.
for (const batch of [24, 5, 1]) {
  test(`digit forward-only, evaluation's texture path, vs the CPU reference, batch ${batch} of 24`, () =>
    checkForwardOnly({
      model: DIGIT,
      batch,
      maxBatch: 24,
      runs: ['conv2d_forward_texture', 'conv2d_forward_implicit_gemm', 'matmul_texture'],
      skips: ['maxpool2d_forward', 'pack_channels_last', 'normalize'],
    }));
}

// A padded 3x3 first layer runs from buffers: the max-pool then packs conv2's input, pooling as it packs.
const SMALL_FIRST_KERNEL: ModelSpec = {
  name: 'small-first-kernel',
  input: [1, 28, 28],
  classes: 10,
  layers: [
    { kind: 'conv2d', name: 'conv1', outChannels: 6, kernel: 3, padding: 1 },
    { kind: 'relu' },
    { kind: 'maxpool2d', kernel: 2 },
    { kind: 'conv2d', name: 'conv2', outChannels: 9, kernel: 3 },
    { kind: 'relu' },
    { kind: 'flatten' },
    { kind: 'linear', name: 'fc1', outFeatures: 70 },
    { kind: 'relu' },
    { kind: 'linear', name: 'fc2', outFeatures: 10 },
  ],
};
test("forward-only, a padded 3x3 first layer: its max-pool packs the implicit GEMM's input", () =>
  checkForwardOnly({
    model: SMALL_FIRST_KERNEL,
    batch: 3,
    maxBatch: 4,
    runs: ['conv2d_forward', 'pack_channels_last', 'conv2d_forward_implicit_gemm'],
    skips: ['maxpool2d_forward', 'conv2d_forward_texture'],
  }));

test('a forward-only network packs its weights once per upload, and runs on the new ones after another', async () => {
  const seed = testSeed();
  const gpu = await sharedGpu();
  const data = await testSplit('test');
  const network = await Network.create(gpu, DIGIT, { maxBatch: 8, training: false, plan: bigBatchPlan(gpu, DIGIT, 8) });
  const reference = await Network.create(gpu, DIGIT, { maxBatch: 8, training: true });
  try {
    const plan = await network.plan(8);
    assert.equal(
      (await forwardShaders(network, 8)).filter((s) => s.startsWith('pack_')).length,
      1,
      "the forward packs conv1's input, and no weights",
    );
    network.writeBatch(data.images.slice(0, 8 * network.inputSize), Uint32Array.from(data.labels.subarray(0, 8)));
    reference.writeBatch(data.images.slice(0, 8 * network.inputSize), Uint32Array.from(data.labels.subarray(0, 8)));
    for (const offset of [0, 1]) {
      const flat = initParameters(network.layout, seed + offset);
      network.setParameters(flat);
      reference.setParameters(flat);
      submitDispatches(gpu, plan.evaluationStep);
      submitDispatches(gpu, (await reference.plan(8)).evaluationStep);
      assertClose(
        await readF32(gpu, network.sampleLoss, 8),
        await readF32(gpu, reference.sampleLoss, 8),
        `parameters from seed ${seed + offset}: losses`,
      );
    }
  } finally {
    network.destroy();
    reference.destroy();
  }
});

test.run();
