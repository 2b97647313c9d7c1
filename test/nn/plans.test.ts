// Every legal plan for `digit`, built by hand, against the float64 reference: each combination of the
// nodes' variants that buildPlan accepts, in training (loss and every parameter gradient) and forward
// only (loss and log-probabilities), and each choice of where the ReLUs' backward runs. A new variant
// joins this enumeration by being a value of its kind (planner.ts variantsOfKind).
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
  type PlanChoices,
  PlanError,
  planNetwork,
  type Variant,
  variantsOfKind,
} from '../../src/nn/planner.ts';
import { DIGIT, parameterSpecs, resolveLayers, shapeSize } from '../../src/nn/spec.ts';
import { networkReference } from '../../src/reference/network.ts';
import { Rng } from '../../src/util/random.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import { assertClose, testSeed } from '../helpers/compare.ts';
import { testSplit } from '../helpers/mnist.ts';

const test = suite('every legal plan of digit vs CPU reference');

const BATCH = 3;
const MAX_BATCH = 4;
/** Batches whose forward comes closer than this to a kink are drawn again (see network.test.ts). */
const KINK_MARGIN = 1e-4;

type NodeChoice = NonNullable<PlanChoices['nodes']>[string];

/** Every combination of per-node options (cartesian product), as PlanChoices. */
function* combinations(options: [string, NodeChoice[]][], inputs: PlanChoices['input'][]): Generator<PlanChoices> {
  const walk = function* (i: number, nodes: Record<string, NodeChoice>): Generator<Record<string, NodeChoice>> {
    if (i === options.length) {
      yield nodes;
      return;
    }
    const [name, choices] = options[i];
    for (const choice of choices) yield* walk(i + 1, { ...nodes, [name]: choice });
  };
  for (const input of inputs) for (const nodes of walk(0, {})) yield { input, nodes };
}

/** The legal plans among `candidates`, described one line each. */
function legalPlans(training: boolean, device: DeviceProfile, candidates: Iterable<PlanChoices>): ExecutionPlan[] {
  const plans: ExecutionPlan[] = [];
  for (const choices of candidates) {
    try {
      plans.push(buildPlan(DIGIT, { training, maxBatch: MAX_BATCH }, device, choices));
    } catch (err) {
      if (!(err instanceof PlanError)) throw err;
    }
  }
  return plans;
}

const describe = (plan: ExecutionPlan) =>
  `input ${plan.input}; ` + plan.nodes.filter((n) => n.kind !== 'flatten')
    .map((n) =>
      `${n.name} ${n.variant}${n.weightGradient ? `/${n.weightGradient}` : ''}${
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

/** Variant options of every node (kernel variants; weight gradients too in training). */
function variantOptions(training: boolean): [string, NodeChoice[]][] {
  const layers = resolveLayers(DIGIT);
  const options: [string, NodeChoice[]][] = [];
  for (let i = 0; i < layers.length; i++) {
    const spec = layers[i].spec;
    if (spec.kind === 'relu') continue;
    const name = layers[i].name;
    const kinds: Variant[] = variantsOfKind(spec.kind).filter((v) => !GPU_CLASS.includes(v));
    const weightGradients = training && spec.kind === 'linear' ? ['buffer', 'texture'] as const : [undefined];
    options.push([
      name,
      kinds.flatMap((variant) =>
        weightGradients.map((weightGradient) => ({ variant, ...(weightGradient ? { weightGradient } : {}) }))
      ),
    ]);
  }
  return options;
}

async function drawBatch(seed: number) {
  const rng = new Rng(seed);
  const data = await testSplit('train');
  const layout = new ParameterLayout(parameterSpecs(DIGIT));
  const flat = initParameters(layout, seed);
  const size = shapeSize(DIGIT.input);
  for (let draw = 0;; draw++) {
    const start = rng.int(data.count - BATCH);
    const pixels = data.images.slice(start * size, (start + BATCH) * size);
    const labels = Uint32Array.from(data.labels.subarray(start, start + BATCH));
    const expected = networkReference(DIGIT, layout.split(flat), pixels, labels);
    if (expected.kinkMargin >= KINK_MARGIN || draw === 19) {
      return { flat, pixels, labels, expected, what: `images from ${start}, seed ${seed}` };
    }
  }
}

async function checkPlans(
  training: boolean,
  candidates: (device: DeviceProfile) => Iterable<PlanChoices>,
  minimum: number,
  profile?: (gpu: DeviceProfile) => DeviceProfile,
) {
  const seed = testSeed();
  const gpu = await sharedGpu();
  const device = profile ? profile(deviceProfile(gpu)) : deviceProfile(gpu);
  const plans = legalPlans(training, device, candidates(device));
  assert.ok(plans.length >= minimum, `${plans.length} legal plans, expected at least ${minimum}`);
  const { flat, pixels, labels, expected, what } = await drawBatch(seed);
  const classes = DIGIT.classes;
  for (const plan of plans) {
    const network = await Network.create(gpu, DIGIT, { maxBatch: MAX_BATCH, training, plan });
    try {
      network.setParameters(flat);
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
      if (training) {
        const grads = network.layout.split(await readF32(gpu, network.grads!, network.layout.totalElements));
        for (const slot of network.layout.slots) {
          assertClose(
            grads.get(slot.name)!,
            expected.gradients.get(slot.name)!,
            `${where}: gradient of ${slot.name}`,
            1e-4,
          );
        }
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

test('training: every legal combination of kernel variants', () =>
  checkPlans(true, () => combinations(variantOptions(true), ['buffer', 'into-packed']), 32));

test("training: every choice of where the three ReLUs' backward runs", () =>
  checkPlans(
    true,
    () =>
      combinations(
        ['conv1', 'conv2', 'fc1'].map((
          name,
        ) => [name, (['pass', 'in-consumer'] as const).map((reluBackward) => ({ reluBackward }))]),
        ['buffer'],
      ),
    8,
  ));

test('forward only: every legal combination of kernel variants and inputs', () =>
  checkPlans(false, () => combinations(variantOptions(false), ['buffer', 'into-packed']), 28));

/** Each conv and linear node on its GPU-class variant or its buffer kernel (the weight gradient's likewise). */
function gpuClassOptions(training: boolean): [string, NodeChoice[]][] {
  const linear: NodeChoice[] = training
    ? [{ variant: 'tiled', weightGradient: 'tiled' }, { variant: 'buffer', weightGradient: 'tiled' }, {
      variant: 'tiled',
      weightGradient: 'buffer',
    }]
    : [{ variant: 'tiled' }, { variant: 'buffer' }];
  return [
    ['conv1', [{ variant: 'tiled-gemm' }, { variant: 'buffer' }]],
    ['conv2', [{ variant: 'tiled-gemm' }, { variant: 'buffer' }]],
    ['fc1', linear],
    ['fc2', linear.slice(0, training ? 1 : 2)],
  ];
}

// The GPU-class kernels' tiles differ by class of device (gemm_tiles.ts): run them as each class would.
for (const kind of ['integrated-gpu', 'discrete-gpu'] as const) {
  const as = (device: DeviceProfile): DeviceProfile => ({ ...device, kind });
  test(`training, ${kind} tiles: each node on its GPU-class variant or the buffer kernel`, () =>
    checkPlans(true, () => combinations(gpuClassOptions(true), ['buffer']), 12, as));
  test(`forward only, ${kind} tiles: each node on its GPU-class variant or the buffer kernel`, () =>
    checkPlans(false, () => combinations(gpuClassOptions(false), ['buffer']), 16, as));
  test(`the planner's own plans for a ${kind} (training and forward only), as it would run digit there`, async () => {
    for (const training of [true, false]) {
      await checkPlans(
        training,
        (device) => [choicesOf(planNetwork(DIGIT, { training, maxBatch: MAX_BATCH }, device))],
        1,
        as,
      );
    }
  });
}

test.run();
