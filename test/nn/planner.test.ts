// The planner's decisions, without a GPU: today's rules for a CPU driver (the plans training and
// evaluation ran before plans were values), legality, tiles at a partial batch, and plain data.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { DeviceProfile } from '../../src/gpu/profile.ts';
import { defaultBackwardWeightTiles } from '../../src/kernels/conv2d_tiles.ts';
import { buildPlan, choicesOf, formatPlan, planNetwork, PlanError, tilesAt, type ExecutionPlan } from '../../src/nn/planner.ts';
import { DIGIT, type ModelSpec } from '../../src/nn/spec.ts';

const test = suite('planner (no GPU)');

const LAVAPIPE: DeviceProfile = {
  kind: 'cpu-driver', adapter: 'llvmpipe (test profile)', features: [],
  limits: { maxTextureDimension2D: 8192, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256 },
};

const variants = (plan: ExecutionPlan) => Object.fromEntries(plan.nodes.map((n) => [n.name, n.variant]));

test('training digit: buffer kernels, fc1 and fc2 weight gradients by size, every ReLU backward fused into its consumer', () => {
  const plan = planNetwork(DIGIT, { training: true, maxBatch: 64 }, LAVAPIPE);
  assert.equal(variants(plan), { conv1: 'buffer', maxpool2d2: 'buffer', conv2: 'buffer', flatten5: 'view', fc1: 'buffer', fc2: 'buffer' });
  assert.is(plan.input, 'buffer');
  assert.is(plan.weights, 'per-pass');
  const node = (name: string) => plan.nodes.find((n) => n.name === name)!;
  assert.is(node('fc1').weightGradient, 'texture', 'fc1 (800 -> 500) is big enough for textures');
  assert.is(node('fc2').weightGradient, 'buffer', 'fc2 has 10 outputs: too small');
  for (const name of ['conv1', 'conv2', 'fc1']) assert.is(node(name).reluBackward, 'in-consumer', name);
  assert.ok(plan.nodes.every((n) => n.reads === 'nchw' && n.writes === 'nchw'));
});

test('forward-only digit at batch 1000: evaluation\'s texture path', () => {
  const plan = planNetwork(DIGIT, { training: false, maxBatch: 1000 }, LAVAPIPE);
  assert.equal(variants(plan),
    { conv1: 'texture+pool', maxpool2d2: 'in-conv', conv2: 'implicit-gemm', flatten5: 'view', fc1: 'texture', fc2: 'buffer' });
  assert.is(plan.input, 'into-packed');
  assert.is(plan.weights, 'per-upload');
  assert.equal(plan.nodes.map((n) => `${n.reads}->${n.writes}`),
    ['packed->channels-last', 'none->channels-last', 'channels-last->packed', 'packed->packed', 'packed->nchw', 'nchw->nchw']);
  assert.ok(plan.nodes.every((n) => n.weightGradient === undefined && n.reluBackward === undefined));
});

test('forward-only below 128 images keeps the buffer kernels (predict, eval --batch-size 64)', () => {
  const plan = planNetwork(DIGIT, { training: false, maxBatch: 127 }, LAVAPIPE);
  assert.ok(plan.nodes.every((n) => n.variant === 'buffer' || n.variant === 'view'));
  assert.is(plan.input, 'buffer');
});

test('small textures: fc1 stays on buffers, and so does conv2 (its implicit GEMM feeds only a texture product)', () => {
  const tiny = { ...LAVAPIPE, limits: { ...LAVAPIPE.limits, maxTextureDimension2D: 512 } };
  const plan = planNetwork(DIGIT, { training: false, maxBatch: 1000 }, tiny);
  assert.is(variants(plan).fc1, 'buffer');
  assert.is(variants(plan).conv2, 'buffer');
  assert.is(variants(plan).maxpool2d2, 'buffer');
  assert.is(variants(plan).conv1, 'texture', 'conv1\'s input is paged, so it still fits');
});

test('a plan is plain data: JSON round trip, and its choices rebuild it', () => {
  for (const training of [true, false]) {
    const plan = planNetwork(DIGIT, { training, maxBatch: training ? 64 : 1000 }, LAVAPIPE);
    assert.equal(JSON.parse(JSON.stringify(plan)), plan);
    assert.equal(buildPlan(DIGIT, { training, maxBatch: plan.maxBatch }, LAVAPIPE, choicesOf(plan)), plan);
  }
});

test('illegal plans are refused, naming the node and why', () => {
  const build = (training: boolean, choices: Parameters<typeof buildPlan>[3]) => () =>
    buildPlan(DIGIT, { training, maxBatch: 16 }, LAVAPIPE, choices);
  const cases: [() => unknown, RegExp][] = [
    [build(true, { nodes: { conv2: { variant: 'implicit-gemm' }, fc1: { variant: 'texture' } } }), /conv2 \(implicit-gemm\) writes packed: training/],
    [build(false, { nodes: { conv2: { variant: 'implicit-gemm' } } }), /conv2 \(implicit-gemm\) writes a packed matrix, which only a linear layer/],
    [build(false, { nodes: { conv2: { variant: 'texture' } } }), /conv2 \(texture\) needs stride 1, no padding and a kernel 4 to 8 wide/],
    [build(false, { nodes: { maxpool2d2: { variant: 'in-conv' } } }), /maxpool2d2 \(in-conv\) needs a texture\+pool convolution/],
    [build(false, { nodes: { maxpool2d2: { variant: 'channels-last' } } }), /writes channels-last, which only an implicit-GEMM/],
    [build(false, { input: 'into-packed' }), /conv1 \(buffer\) cannot read a packed input/],
    [build(true, { input: 'into-packed', nodes: { conv1: { variant: 'texture' } } }), /training keeps the normalized input/],
    [build(false, { nodes: { fc2: { variant: 'implicit-gemm' } } }), /fc2 \(implicit-gemm\) is not a linear variant/],
    [build(false, { nodes: { conv3: { variant: 'buffer' } } }), /names "conv3", which is no node/],
  ];
  for (const [call, pattern] of cases) {
    try {
      call();
      assert.unreachable(`expected ${pattern}`);
    } catch (err) {
      assert.instance(err, PlanError);
      assert.match((err as Error).message, pattern);
    }
  }
});

test('tiles: the kernels\' rules at the batch being run (a partial last batch too), unless the device has tuned ones', () => {
  const plan = planNetwork(DIGIT, { training: true, maxBatch: 64 }, LAVAPIPE);
  const conv1 = plan.nodes[0];
  const shape = (batch: number) => ({ batch, inChannels: 1, height: 28, width: 28, outChannels: 10, kernelH: 5, kernelW: 5, stride: 1, padding: 0 });
  assert.equal(conv1.tiles.backwardWeight, { ...defaultBackwardWeightTiles(shape(64)) });
  assert.equal(tilesAt(DIGIT, plan, conv1, 32).backwardWeight, { ...defaultBackwardWeightTiles(shape(32)) });
  assert.is(conv1.tiles.backwardInput, undefined, 'the first layer computes no input gradient');
  const tuned = { ...LAVAPIPE, tuned: { 'conv1.forward': { workgroup: 32 } } };
  assert.is(planNetwork(DIGIT, { training: true, maxBatch: 64 }, tuned).nodes[0].tiles.forward.workgroup, 32);
});

// A standalone ReLU before a linear layer (through flatten) or a max-pool leaves its backward to it;
// one before a convolution runs its own pass.
const STANDALONE: ModelSpec = {
  name: 'standalone', input: [1, 12, 12], classes: 10, layers: [
    { kind: 'conv2d', name: 'conv1', outChannels: 4, kernel: 3 },
    { kind: 'maxpool2d', kernel: 2 },
    { kind: 'relu' },
    { kind: 'conv2d', name: 'conv2', outChannels: 4, kernel: 3 },
    { kind: 'relu' },
    { kind: 'maxpool2d', kernel: 2 },
    { kind: 'relu' },
    { kind: 'flatten' },
    { kind: 'linear', name: 'fc', outFeatures: 10 },
  ],
};

test('ReLU backward: fused into a following linear or max-pool, a pass of its own before a convolution', () => {
  const plan = planNetwork(STANDALONE, { training: true, maxBatch: 8 }, LAVAPIPE);
  const relu = Object.fromEntries(plan.nodes.filter((n) => n.reluBackward).map((n) => [n.name, n.reluBackward]));
  assert.equal(relu, { relu2: 'pass', conv2: 'in-consumer', relu6: 'in-consumer' });
});

test('the printed plan names every node, its variant, layouts and tiles', () => {
  const text = formatPlan(planNetwork(DIGIT, { training: false, maxBatch: 1000 }, LAVAPIPE));
  for (const expected of ['plan for digit: forward-only, batches up to 1000', 'conv1', 'texture+pool', 'packed -> channels-last',
    'implicit-gemm', 'in-conv', 'fc1', 'forward: rows=20 columns=24 workgroup=8']) {
    assert.ok(text.includes(expected), `"${expected}" in:\n${text}`);
  }
});

test.run();
