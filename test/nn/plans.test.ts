// Every legal plan of each preset (digit, fast, best), built by hand, against the float64 reference:
// each combination of the nodes' variants that buildPlan accepts, in training (loss and every
// parameter gradient) and forward only (loss and log-probabilities, batch norm on its running
// statistics), and each choice of where the ReLUs' backward runs. A new variant joins this enumeration
// by being a value of its kind (planner.ts variantsOfKind).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readF32 } from '../../src/gpu/buffers.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import { type DeviceProfile, deviceProfile } from '../../src/gpu/profile.ts';
import { dispatchesOf, Network } from '../../src/nn/network.ts';
import { initParameters, ParameterLayout } from '../../src/nn/parameters.ts';
import {
  buildPlan,
  choicesOf,
  type ExecutionPlan,
  type NodeChoice,
  type PlanChoices,
  PlanError,
  planNetwork,
  type Variant,
  variantsOfKind,
  weightGradientOf,
} from '../../src/nn/planner.ts';
import { BEST, DIGIT, FAST, type ModelSpec, parameterSpecs, resolveLayers, shapeSize } from '../../src/nn/spec.ts';
import { networkReference } from '../../src/reference/network.ts';
import { Rng } from '../../src/util/random.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import { assertClose, testSeed } from '../helpers/compare.ts';
import { testSplit } from '../helpers/mnist.ts';
import { assertGradients, dropoutMasksAt, perturbInitialized, roundingSensitivity } from './gradient-check.ts';

const test = suite('every legal plan of digit, fast and best vs CPU reference');

const BATCH = 3;
const MAX_BATCH = 4;
/** The dropout masks' step (network.setStep). */
const STEP = 3;
/** Batches whose forward comes closer than this to a kink are drawn again (see network.test.ts). */
const KINK_MARGIN = 1e-4;

type Options = [string, NodeChoice[]][];

/**
 * The legal plans among every combination of per-node options (one entry per plan node, in order).
 * The walk decides nodes in order and drops a prefix as soon as buildPlan blames a node whose legality
 * no later choice can change (a node's depends on the nodes up to two after it: its consumer through a
 * view), so the presets' products of options are never built in full.
 */
function legalPlans(
  model: ModelSpec,
  training: boolean,
  device: DeviceProfile,
  options: Options,
  inputs: PlanChoices['input'][],
): ExecutionPlan[] {
  const names = options.map(([name]) => name);
  const plans: ExecutionPlan[] = [];
  const build = (choices: PlanChoices) => buildPlan(model, { training, maxBatch: MAX_BATCH }, device, choices);
  const walk = (k: number, input: PlanChoices['input'], nodes: Record<string, NodeChoice>): void => {
    if (k === options.length) {
      try {
        plans.push(build({ input, nodes }));
      } catch (err) {
        if (!(err instanceof PlanError)) throw err;
      }
      return;
    }
    const [name, choices] = options[k];
    for (const choice of choices) {
      const next = { ...nodes, [name]: choice };
      try {
        build({ input, nodes: next });
      } catch (err) {
        if (!(err instanceof PlanError)) throw err;
        const blamed = err.node === undefined ? -1 : names.indexOf(err.node);
        if (blamed >= 0 && blamed + 2 <= k) continue;
      }
      walk(k + 1, input, next);
    }
  };
  for (const input of inputs) walk(0, input, {});
  return plans;
}

const describe = (plan: ExecutionPlan) =>
  `${plan.model}: input ${plan.input}; ` + plan.nodes.filter((n) => n.kind !== 'flatten')
    .map((n) =>
      `${n.name} ${n.variant}${weightGradientOf(n) ? `/${weightGradientOf(n)}` : ''}${
        n.reluBackward ? ` relu:${n.reluBackward}` : ''
      }`
    )
    .join(', ');

/**
 * The GPU-class variants (workgroup tiles) are enumerated on their own below, with the others' buffer
 * kernels: crossing them with every texture variant would multiply this suite's time for no new pairing
 * (they read and write plain buffers like the buffer kernels).
 */
const GPU_CLASS: readonly Variant[] = ['tiled-gemm', 'tiled'];

/** The plan's nodes (the model's, fused ReLUs taken in), by the default plan. */
const nodesOf = (model: ModelSpec, training: boolean, device: DeviceProfile) =>
  buildPlan(model, { training, maxBatch: MAX_BATCH }, device).nodes;

/** Variant options of every node (kernel variants; weight gradients too in training). */
function variantOptions(model: ModelSpec, training: boolean, device: DeviceProfile): Options {
  return nodesOf(model, training, device).map((node) => {
    const kinds: Variant[] = variantsOfKind(node.kind).filter((v) => !GPU_CLASS.includes(v));
    const weightGradients = training && node.kind === 'linear' ? ['buffer', 'texture'] as const : [undefined];
    return [
      node.name,
      kinds.flatMap((variant) =>
        weightGradients.map((weightGradient) => ({ variant, ...(weightGradient ? { weightGradient } : {}) }))
      ),
    ];
  });
}

/** Each node whose output is a ReLU's: its backward in a pass of its own, or in its consumer's where it can be. */
function reluOptions(model: ModelSpec, device: DeviceProfile): Options {
  return nodesOf(model, true, device).map((node) => [
    node.name,
    node.reluBackward ? (['pass', 'in-consumer'] as const).map((reluBackward) => ({ reluBackward })) : [{}],
  ]);
}

const draws = new Map<string, ReturnType<typeof drawNewBatch>>();

/** drawNewBatch's, once per model, mode and seed: the reference (best's above all) is the slow part of a suite. */
function drawBatch(model: ModelSpec, training: boolean, seed: number): ReturnType<typeof drawNewBatch> {
  const key = `${model.name} ${training} ${seed}`;
  let draw = draws.get(key);
  if (!draw) draws.set(key, draw = drawNewBatch(model, training, seed));
  return draw;
}

/** A batch of training images, the parameters (batch norm's perturbed) and what the reference expects of them. */
async function drawNewBatch(model: ModelSpec, training: boolean, seed: number) {
  const rng = new Rng(seed);
  const data = await testSplit('train');
  const layout = new ParameterLayout(parameterSpecs(model));
  const flat = initParameters(layout, seed);
  perturbInitialized(layout, flat, rng);
  const params = layout.split(flat);
  const dropoutMasks = training ? dropoutMasksAt(resolveLayers(model), BATCH, seed, STEP) : undefined;
  const size = shapeSize(model.input);
  for (let draw = 0;; draw++) {
    const start = rng.int(data.count - BATCH);
    const pixels = data.images.slice(start * size, (start + BATCH) * size);
    const labels = Uint32Array.from(data.labels.subarray(start, start + BATCH));
    const options = { dropoutMasks, evaluation: !training };
    const expected = networkReference(model, params, pixels, labels, options);
    if (expected.kinkMargin >= KINK_MARGIN || draw === 19) {
      const sensitivity = training
        ? roundingSensitivity(model, params, pixels, labels, options, expected.gradients, rng)
        : new Map<string, number>();
      return { flat, pixels, labels, expected, sensitivity, what: `images from ${start}, seed ${seed}` };
    }
  }
}

async function checkPlans(
  model: ModelSpec,
  training: boolean,
  plansFor: (device: DeviceProfile) => ExecutionPlan[],
  minimum: number,
  profile?: (gpu: DeviceProfile) => DeviceProfile,
) {
  const seed = testSeed();
  const gpu = await sharedGpu();
  const device = profile ? profile(deviceProfile(gpu)) : deviceProfile(gpu);
  const plans = plansFor(device);
  assert.ok(plans.length >= minimum, `${plans.length} legal plans of ${model.name}, expected at least ${minimum}`);
  const { flat, pixels, labels, expected, sensitivity, what } = await drawBatch(model, training, seed);
  const classes = model.classes;
  for (const plan of plans) {
    const network = await Network.create(gpu, model, { maxBatch: MAX_BATCH, training, plan });
    try {
      network.setParameters(flat);
      network.setStep(seed, STEP);
      network.writeBatch(pixels, labels);
      const steps = await network.plan(BATCH);
      submitDispatches(
        gpu,
        training
          ? dispatchesOf(steps.forward, steps.loss, steps.backward)
          : [...steps.evaluationStep, ...dispatchesOf(steps.logProbabilities)],
      );
      const where = `${describe(plan)} (${what})`;
      const losses = await readF32(gpu, network.sampleLoss, BATCH);
      assertClose([losses.reduce((a, b) => a + b, 0) / BATCH], [expected.loss], `${where}: loss`);
      if (network.grads) {
        const grads = network.layout.split(await readF32(gpu, network.grads, network.layout.totalElements));
        assertGradients(where, network.layout, grads, expected.gradients, sensitivity);
      } else {
        const logProbs = await readF32(gpu, network.logProbs, BATCH * classes);
        for (let i = 0; i < BATCH; i++) {
          const logits = Array.from(expected.logits.subarray(i * classes, (i + 1) * classes));
          const top = Math.max(...logits);
          const logSum = top + Math.log(logits.reduce((sum, v) => sum + Math.exp(v - top), 0));
          assertClose(
            logProbs.subarray(i * classes, (i + 1) * classes),
            logits.map((v) => v - logSum),
            `${where}: log-probabilities of ${i}`,
            1e-4,
          );
        }
      }
    } finally {
      network.destroy();
    }
  }
}

// How many legal plans each preset has on this device (at least): digit's texture variants make many;
// fast's and best's 3x3 convolutions suit none of them, so their linear layers make the choices.
const PRESETS: [ModelSpec, { training: number; relu: number; forward: number }][] = [
  [DIGIT, { training: 32, relu: 8, forward: 28 }],
  [FAST, { training: 16, relu: 4, forward: 4 }],
  [BEST, { training: 4, relu: 0, forward: 2 }],
];

for (const [model, minimum] of PRESETS) {
  test(`${model.name}, training: every legal combination of kernel variants`, () =>
    checkPlans(
      model,
      true,
      (device) => legalPlans(model, true, device, variantOptions(model, true, device), ['buffer', 'into-packed']),
      minimum.training,
    ));
  // best has five ReLUs (32 plans of a big network): its fused ReLU backwards are checked in its plans above.
  if (minimum.relu > 0) {
    test(`${model.name}, training: every choice of where the ReLUs' backward runs`, () =>
      checkPlans(
        model,
        true,
        (device) => legalPlans(model, true, device, reluOptions(model, device), ['buffer']),
        minimum.relu,
      ));
  }
  test(`${model.name}, forward only: every legal combination of kernel variants and inputs`, () =>
    checkPlans(
      model,
      false,
      (device) => legalPlans(model, false, device, variantOptions(model, false, device), ['buffer', 'into-packed']),
      minimum.forward,
    ));
}

/** Each of digit's conv and linear nodes on its GPU-class variant or its buffer kernel (the weight gradient's likewise). */
function gpuClassOptions(training: boolean, device: DeviceProfile): Options {
  const linear: NodeChoice[] = training
    ? [{ variant: 'tiled', weightGradient: 'tiled' }, { variant: 'buffer', weightGradient: 'tiled' }, {
      variant: 'tiled',
      weightGradient: 'buffer',
    }]
    : [{ variant: 'tiled' }, { variant: 'buffer' }];
  const options: Record<string, NodeChoice[]> = {
    conv1: [{ variant: 'tiled-gemm' }, { variant: 'buffer' }],
    conv2: [{ variant: 'tiled-gemm' }, { variant: 'buffer' }],
    fc1: linear,
    fc2: linear.slice(0, training ? 1 : 2),
  };
  return nodesOf(DIGIT, training, device).map((node) => [node.name, options[node.name] ?? [{}]]);
}

// The GPU-class kernels' tiles differ by class of device (gemm_tiles.ts): run them as each class would.
for (const kind of ['integrated-gpu', 'discrete-gpu'] as const) {
  const as = (device: DeviceProfile): DeviceProfile => ({ ...device, kind });
  test(`digit, training, ${kind} tiles: each node on its GPU-class variant or the buffer kernel`, () =>
    checkPlans(
      DIGIT,
      true,
      (device) => legalPlans(DIGIT, true, device, gpuClassOptions(true, device), ['buffer']),
      12,
      as,
    ));
  test(`digit, forward only, ${kind} tiles: each node on its GPU-class variant or the buffer kernel`, () =>
    checkPlans(
      DIGIT,
      false,
      (device) => legalPlans(DIGIT, false, device, gpuClassOptions(false, device), ['buffer']),
      16,
      as,
    ));
  for (const model of [DIGIT, FAST, BEST]) {
    test(`the planner's own plans of ${model.name} for a ${kind} (training and forward only)`, async () => {
      for (const training of [true, false]) {
        await checkPlans(
          model,
          training,
          (
            device,
          ) => [
            buildPlan(
              model,
              { training, maxBatch: MAX_BATCH },
              device,
              choicesOf(planNetwork(model, { training, maxBatch: MAX_BATCH }, device)),
            ),
          ],
          1,
          as,
        );
      }
    });
  }
}

test.run();
