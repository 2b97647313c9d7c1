// The planner's decisions, without a GPU: today's rules for a CPU driver (the plans training and
// evaluation ran before plans were values), legality, tiles at a partial batch, and plain data.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { deviceKindOf, type DeviceProfile } from '../../src/gpu/profile.ts';
import { defaultGemmTiles, type GemmTiles, gemmTilesProblem, GPU_OCCUPANCY } from '../../src/kernels/gemm_tiles.ts';
import { defaultBackwardWeightTiles, defaultForwardTiles } from '../../src/kernels/conv2d_tiles.ts';
import {
  buildPlan,
  choicesOf,
  type ExecutionPlan,
  formatPlan,
  nodeAt,
  PlanError,
  planNetwork,
  tilesByRole,
  weightGradientOf,
} from '../../src/nn/planner.ts';
import { isNodeOf, type LayerKind, type PlanNodeOf } from '../../src/nn/layers/index.ts';
import { DIGIT, type ModelSpec, resolveLayers } from '../../src/nn/spec.ts';
import { conv2dShapeOf } from '../../src/util/shapes.ts';

const test = suite('planner (no GPU)');

const LAVAPIPE: DeviceProfile = {
  kind: 'cpu-driver',
  adapter: 'llvmpipe (test profile)',
  features: [],
  limits: { maxTextureDimension2D: 8192, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256 },
};

/** The plan's node `name`, typed as a `kind` node (its tiles by its variant); fails the test if it is another kind. */
function nodeOf<K extends LayerKind>(plan: ExecutionPlan, name: string, kind: K): PlanNodeOf<K> {
  const node = plan.nodes.find((n) => n.name === name);
  if (!node || !isNodeOf(node, kind)) throw new Error(`${name}: no ${kind} node in the plan`);
  return node;
}

const variants = (plan: ExecutionPlan) => Object.fromEntries(plan.nodes.map((n) => [n.name, n.variant]));

test('training digit: buffer kernels, fc1 and fc2 weight gradients by size, every ReLU backward fused into its consumer', () => {
  const plan = planNetwork(DIGIT, { training: true, maxBatch: 64 }, LAVAPIPE);
  assert.equal(variants(plan), {
    conv1: 'buffer',
    'maxpool2d#1': 'buffer',
    conv2: 'buffer',
    'flatten#1': 'view',
    fc1: 'buffer',
    fc2: 'buffer',
  });
  assert.is(plan.input, 'buffer');
  assert.is(plan.weights, 'per-pass');
  assert.is(nodeOf(plan, 'fc1', 'linear').weightGradient, 'texture', 'fc1 (800 -> 500) is big enough for textures');
  assert.is(nodeOf(plan, 'fc2', 'linear').weightGradient, 'buffer', 'fc2 has 10 outputs: too small');
  for (const name of ['conv1', 'conv2', 'fc1']) {
    assert.is(plan.nodes.find((n) => n.name === name)?.reluBackward, 'in-consumer', name);
  }
  assert.ok(plan.nodes.every((n) => n.reads === 'nchw' && n.writes === 'nchw'));
});

test("forward-only digit at batch 1000: evaluation's texture path", () => {
  const plan = planNetwork(DIGIT, { training: false, maxBatch: 1000 }, LAVAPIPE);
  assert.equal(variants(plan), {
    conv1: 'texture+pool',
    'maxpool2d#1': 'in-conv',
    conv2: 'implicit-gemm',
    'flatten#1': 'view',
    fc1: 'texture',
    fc2: 'buffer',
  });
  assert.is(plan.input, 'into-packed');
  assert.is(plan.weights, 'per-upload');
  assert.equal(plan.nodes.map((n) => `${n.reads}->${n.writes}`), [
    'packed->channels-last',
    'none->channels-last',
    'channels-last->packed',
    'packed->packed',
    'packed->nchw',
    'nchw->nchw',
  ]);
  assert.ok(plan.nodes.every((n) => weightGradientOf(n) === undefined && n.reluBackward === undefined));
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
  assert.is(variants(plan)['maxpool2d#1'], 'buffer');
  assert.is(variants(plan).conv1, 'texture', "conv1's input is paged, so it still fits");
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
    [
      build(true, { nodes: { conv2: { variant: 'implicit-gemm' }, fc1: { variant: 'texture' } } }),
      /conv2 \(implicit-gemm\) writes packed: training/,
    ],
    [
      build(false, { nodes: { conv2: { variant: 'implicit-gemm' } } }),
      /conv2 \(implicit-gemm\) writes a packed matrix, which only a linear layer/,
    ],
    [
      build(false, { nodes: { conv2: { variant: 'texture' } } }),
      /conv2 \(texture\) needs stride 1, no padding and a kernel 4 to 8 wide/,
    ],
    [
      build(false, { nodes: { 'maxpool2d#1': { variant: 'in-conv' } } }),
      /maxpool2d#1 \(in-conv\) needs a texture\+pool convolution/,
    ],
    [
      build(false, { nodes: { 'maxpool2d#1': { variant: 'channels-last' } } }),
      /writes channels-last, which only an implicit-GEMM/,
    ],
    [build(false, { input: 'into-packed' }), /conv1 \(buffer\) cannot read a packed input/],
    [
      build(true, { input: 'into-packed', nodes: { conv1: { variant: 'texture' } } }),
      /training keeps the normalized input/,
    ],
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

test("tiles: the kernels' rules at the batch being run (a partial last batch too), unless the device has tuned ones", () => {
  const plan = planNetwork(DIGIT, { training: true, maxBatch: 64 }, LAVAPIPE);
  const conv1 = nodeOf(plan, 'conv1', 'conv2d');
  const shape = (batch: number) => ({
    batch,
    inChannels: 1,
    height: 28,
    width: 28,
    outChannels: 10,
    kernelH: 5,
    kernelW: 5,
    stride: 1,
    padding: 0,
  });
  assert.equal(conv1.tiles.backwardWeight, { ...defaultBackwardWeightTiles(shape(64)) });
  const atBatch32 = nodeAt(DIGIT, plan, conv1, 32);
  assert.ok(isNodeOf(atBatch32, 'conv2d') && atBatch32.variant === 'buffer', 'the same node, at another batch');
  assert.equal(atBatch32.tiles.backwardWeight, { ...defaultBackwardWeightTiles(shape(32)) });
  assert.is(conv1.tiles.backwardInput, undefined, 'the first layer computes no input gradient');
  const tuned = { ...LAVAPIPE, tuned: { 'conv1.forward': { workgroup: 32 } } };
  const tunedConv1 = nodeOf(planNetwork(DIGIT, { training: true, maxBatch: 64 }, tuned), 'conv1', 'conv2d');
  assert.ok(tunedConv1.variant === 'buffer' && tunedConv1.tiles.forward.workgroup === 32);
});

test("nodeAt: the tuner's candidate over one role, the tune cache's values under it, the other roles the kernels' rules", () => {
  const tuned = { ...LAVAPIPE, tuned: { 'conv2.forward': { workgroup: 32 } } };
  const plan = planNetwork(DIGIT, { training: true, maxBatch: 64 }, tuned);
  const conv2 = nodeOf(plan, 'conv2', 'conv2d');
  const { spec, inShape } = resolveLayers(DIGIT)[conv2.layer];
  if (spec.kind !== 'conv2d') throw new Error('conv2 is no conv2d layer');
  const shape = conv2dShapeOf(spec, inShape, 64);
  const candidate = nodeAt(DIGIT, plan, conv2, 64, { role: 'forward', tiles: { columns: 2 } });
  if (!isNodeOf(candidate, 'conv2d') || candidate.variant !== 'buffer') throw new Error('conv2 is no buffer conv');
  assert.equal(candidate.tiles.forward, { ...defaultForwardTiles(shape), workgroup: 32, columns: 2 });
  assert.equal(candidate.tiles.backwardWeight, conv2.tiles.backwardWeight);
  assert.equal(conv2.tiles.forward, { ...defaultForwardTiles(shape), workgroup: 32 }, "the plan's node is unchanged");
  assert.equal(
    formatPlan(buildPlan(DIGIT, { training: true, maxBatch: 64 }, tuned, choicesOf(plan))),
    formatPlan(plan),
  );
});

// A standalone ReLU before a linear layer (through flatten) or a max-pool leaves its backward to it;
// one before a convolution runs its own pass.
const STANDALONE: ModelSpec = {
  name: 'standalone',
  input: [1, 12, 12],
  classes: 10,
  layers: [
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
  assert.equal(relu, { 'relu#1': 'pass', conv2: 'in-consumer', 'relu#3': 'in-consumer' });
});

test('the printed plan names every node, its variant, layouts and tiles', () => {
  const text = formatPlan(planNetwork(DIGIT, { training: false, maxBatch: 1000 }, LAVAPIPE));
  for (
    const expected of [
      'plan for digit: forward-only, batches up to 1000',
      'conv1',
      'texture+pool',
      'packed -> channels-last',
      'implicit-gemm',
      'in-conv',
      'fc1',
      'forward: rows=20 columns=24 workgroup=8',
    ]
  ) {
    assert.ok(text.includes(expected), `"${expected}" in:\n${text}`);
  }
});

const gpuProfile = (kind: DeviceProfile['kind']): DeviceProfile => ({
  ...LAVAPIPE,
  kind,
  adapter: `${kind} (test profile)`,
  limits: { ...LAVAPIPE.limits, maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupSizeX: 1024 },
});

test('device classes from adapter info: CPU drivers, integrated and discrete GPUs', () => {
  const info = (vendor: string, architecture: string, description = '', isFallbackAdapter = false) => ({
    vendor,
    architecture,
    device: '',
    description,
    isFallbackAdapter,
  });
  assert.is(deviceKindOf(info('mesa', '', 'llvmpipe (LLVM 19.1.7, 256 bits)')), 'cpu-driver');
  assert.is(deviceKindOf(info('google', 'swiftshader')), 'cpu-driver');
  assert.is(deviceKindOf(info('microsoft', '', 'Microsoft Basic Render Driver')), 'cpu-driver');
  assert.is(
    deviceKindOf(info('nvidia', 'hopper', 'NVIDIA H200', true)),
    'cpu-driver',
    'a fallback adapter is a CPU driver',
  );
  assert.is(deviceKindOf(info('intel', 'gen-12lp', 'Intel(R) UHD Graphics 770')), 'integrated-gpu');
  assert.is(deviceKindOf(info('apple', 'metal-3', 'Apple M2')), 'integrated-gpu');
  assert.is(deviceKindOf(info('arm', 'valhall')), 'integrated-gpu');
  assert.is(deviceKindOf(info('qualcomm', 'adreno-7xx')), 'integrated-gpu');
  assert.is(deviceKindOf(info('nvidia', 'hopper', 'NVIDIA H200')), 'discrete-gpu');
  assert.is(deviceKindOf(info('amd', 'rdna-3', 'AMD Radeon RX 7900 XTX')), 'discrete-gpu');
  assert.is(deviceKindOf(info('intel', 'xe-hpg', 'Intel(R) Arc(TM) A770 Graphics')), 'discrete-gpu');
});

test("GPU profiles: every conv and linear layer on its GPU-class variant, tiles by class; lavapipe's plan has none", () => {
  for (const kind of ['integrated-gpu', 'discrete-gpu'] as const) {
    for (const training of [true, false]) {
      const plan = planNetwork(DIGIT, { training, maxBatch: training ? 64 : 1000 }, gpuProfile(kind));
      assert.equal(variants(plan), {
        conv1: 'tiled-gemm',
        'maxpool2d#1': 'buffer',
        conv2: 'tiled-gemm',
        'flatten#1': 'view',
        fc1: 'tiled',
        fc2: 'tiled',
      });
      assert.is(plan.input, 'buffer');
      for (const node of plan.nodes) {
        if (training && node.kind === 'linear') assert.is(node.weightGradient, 'tiled');
        const gemm = (node.kind === 'conv2d' && node.variant === 'tiled-gemm') ||
          (node.kind === 'linear' && node.variant === 'tiled');
        assert.is(gemm, tilesByRole(node).length > 0, `${kind} ${node.name}: tiles only for its GEMMs`);
        if (node.kind === 'conv2d' && node.variant === 'tiled-gemm') {
          const { forward, backwardWeight, backwardInput } = node.tiles;
          for (const tiles of [forward, backwardWeight, backwardInput]) {
            if (tiles) assert.is(gemmTilesProblem(tiles, 1024), undefined, `${kind} ${node.name}`);
          }
        }
        if (node.kind === 'linear' && node.variant === 'tiled') {
          assert.is(gemmTilesProblem(node.tiles.forward, 1024), undefined, `${kind} ${node.name}.forward`);
          if (node.weightGradient === 'tiled') {
            const { backwardWeight, backwardInput } = node.tiles;
            assert.is(gemmTilesProblem(backwardWeight, 1024), undefined, `${kind} ${node.name}.backwardWeight`);
            assert.is(gemmTilesProblem(backwardInput, 1024), undefined, `${kind} ${node.name}.backwardInput`);
          }
        }
      }
      if (training) {
        const conv1 = nodeOf(plan, 'conv1', 'conv2d');
        assert.ok(
          conv1.variant === 'tiled-gemm' && (conv1.tiles.backwardWeight?.splits ?? 1) > 1,
          "conv1's weight gradient splits k (36864 long)",
        );
      }
    }
  }
  const big = planNetwork(DIGIT, { training: false, maxBatch: 1000 }, gpuProfile('discrete-gpu'));
  assert.equal(nodeOf(big, 'conv2', 'conv2d').tiles.forward, { ...defaultGemmTiles('discrete-gpu', 64000, 20, 90) });
  for (const training of [true, false]) {
    const plan = planNetwork(DIGIT, { training, maxBatch: 1000 }, LAVAPIPE);
    assert.ok(
      plan.nodes.every((n) => n.variant !== 'tiled-gemm' && n.variant !== 'tiled' && weightGradientOf(n) !== 'tiled'),
    );
  }
});

test('the GPU-class variants are legal in any plan, and a tuned configuration overrides their tiles', () => {
  const plan = buildPlan(DIGIT, { training: true, maxBatch: 5 }, LAVAPIPE, {
    nodes: { conv2: { variant: 'tiled-gemm' }, fc1: { variant: 'tiled', weightGradient: 'tiled' } },
  });
  assert.equal(nodeOf(plan, 'conv2', 'conv2d').tiles.forward, { ...defaultGemmTiles('cpu-driver', 5 * 64, 20, 90) });
  const tuned = {
    ...gpuProfile('discrete-gpu'),
    tuned: { 'fc1.forward': { tileM: 64, tileN: 32, threadM: 4, threadN: 4 } },
  };
  assert.not.equal(defaultGemmTiles('discrete-gpu', 64, 500, 2000).tileM, 64, 'the tuned tiles are not the default');
  const fc1 = nodeOf(planNetwork(DIGIT, { training: true, maxBatch: 64 }, tuned), 'fc1', 'linear');
  if (fc1.variant !== 'tiled') throw new Error(`fc1 runs ${fc1.variant}, not tiled`);
  const t = fc1.tiles.forward;
  assert.equal([t.tileM, t.tileN, t.threadM, t.threadN, t.tileK], [64, 32, 4, 4, 8]);
});

test("a GPU class shrinks a dense product's tiles until it fills the device; split-K products and lavapipe keep theirs", () => {
  const workgroups = (t: GemmTiles, m: number, n: number) => Math.ceil(m / t.tileM) * Math.ceil(n / t.tileN);
  // digit's fc1 at batch 64 (64 x 500 over 2000): 8 workgroups of 64 x 64 before.
  const fc1 = defaultGemmTiles('discrete-gpu', 64, 500, 2000);
  assert.equal(fc1, { tileM: 16, tileN: 16, tileK: 8, threadM: 2, threadN: 2 });
  assert.ok(workgroups(fc1, 64, 500) >= GPU_OCCUPANCY['discrete-gpu']);
  // Enough already: nothing shrinks (best's conv2 forward, batch 64).
  assert.equal(defaultGemmTiles('discrete-gpu', 64 * 576, 48, 288), {
    tileM: 64,
    tileN: 64,
    tileK: 8,
    threadM: 4,
    threadN: 4,
  });
  for (const kind of ['integrated-gpu', 'discrete-gpu'] as const) {
    for (const [m, n, k] of [[64, 500, 2000], [64, 2000, 500], [6400, 20, 90], [64, 10, 500], [1000, 10, 500]]) {
      const t = defaultGemmTiles(kind, m, n, k);
      assert.is(gemmTilesProblem(t, 256), undefined, `${kind} ${m}x${n}`);
      // Shrinking stops at the occupancy, or at 16 x 16.
      const full = workgroups(t, m, n) >= GPU_OCCUPANCY[kind];
      assert.ok(full || (t.tileM === 16 && t.tileN === 16), `${kind} ${m}x${n}: ${JSON.stringify(t)}`);
    }
    // A split-K product keeps the tiles and splits it had (its summation order depends on them).
    assert.equal(defaultGemmTiles(kind, 20, 90, 6400, true), {
      tileM: 32,
      tileN: 64,
      tileK: 8,
      threadM: 4,
      threadN: 4,
      splits: 25,
    });
  }
  assert.equal(defaultGemmTiles('cpu-driver', 64, 500, 2000), {
    tileM: 32,
    tileN: 32,
    tileK: 8,
    threadM: 4,
    threadN: 4,
  });
});

test.run();
