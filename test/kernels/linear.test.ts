import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import {
  linearBackwardInput,
  linearBackwardWeight,
  linearForward,
  type LinearShape,
} from '../../src/kernels/linear.ts';
import { linearBackwardReference, linearForwardReference } from '../../src/reference/linear.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import { f32Buffer, poisonedBuffer, readF32, readU32, sharedGpu } from '../helpers/gpu.ts';
import { assertClose, assertExactlyEqual, numericGradient, testSeed } from '../helpers/compare.ts';

const test = suite('linear');

const describe = ({ batch, inFeatures, outFeatures }: LinearShape) => `batch ${batch}, ${inFeatures} -> ${outFeatures}`;

// Small and odd shapes, the MNIST layers (fc1 2000 -> 500, fc2 500 -> 10) at batch 64, batch 1 and an
// odd batch, and fc2 at the evaluation batch of 1000.
const SHAPES: LinearShape[] = [
  { batch: 1, inFeatures: 1, outFeatures: 1 },
  { batch: 13, inFeatures: 33, outFeatures: 10 },
  { batch: 64, inFeatures: 2000, outFeatures: 500 },
  { batch: 37, inFeatures: 2000, outFeatures: 500 },
  { batch: 1, inFeatures: 2000, outFeatures: 500 },
  { batch: 64, inFeatures: 500, outFeatures: 10 },
  { batch: 1000, inFeatures: 500, outFeatures: 10 },
];

interface Inputs {
  seed: number;
  x: Float32Array;
  w: Float32Array;
  b: Float32Array;
  gradOutput: Float32Array;
}

function randomInputs(shape: LinearShape): Inputs {
  const seed = testSeed();
  const rng = new Rng(seed);
  const { batch, inFeatures, outFeatures } = shape;
  return {
    seed,
    x: rng.f32(batch * inFeatures),
    w: rng.f32(outFeatures * inFeatures, -0.1, 0.1),
    b: rng.f32(outFeatures),
    gradOutput: rng.f32(batch * outFeatures),
  };
}

for (const shape of SHAPES) {
  for (const relu of [false, true]) {
    if (relu && shape.inFeatures === 2000 && shape.batch !== 64) continue; // one fc1 ReLU case is enough
    test(`forward${relu ? ' + ReLU' : ''}, ${describe(shape)}`, async () => {
      const gpu = await sharedGpu();
      const { seed, x, w, b } = randomInputs(shape);
      const buffers = [f32Buffer(gpu, 'x', x), f32Buffer(gpu, 'w', w), f32Buffer(gpu, 'b', b)];
      const output = poisonedBuffer(gpu, 'y', shape.batch * shape.outFeatures);
      submitDispatches(gpu, await linearForward(gpu, shape, { relu }, buffers[0], buffers[1], buffers[2], output));
      const actual = await readF32(gpu, output, shape.batch * shape.outFeatures);
      assertClose(
        actual,
        linearForwardReference(shape, x, w, b, relu),
        `forward relu=${relu} ${describe(shape)} seed=${seed}`,
      );
      for (const buffer of [...buffers, output]) buffer.destroy();
    });
  }
}

for (const shape of SHAPES) {
  test(`backward, ${describe(shape)}`, async () => {
    const gpu = await sharedGpu();
    const { batch, inFeatures, outFeatures } = shape;
    const { seed, x, w, gradOutput } = randomInputs(shape);
    const [xBuffer, wBuffer, gBuffer] = [
      f32Buffer(gpu, 'x', x),
      f32Buffer(gpu, 'w', w),
      f32Buffer(gpu, 'gradOutput', gradOutput),
    ];
    // Poisoned outputs: the kernels must overwrite every element (no accumulation into old values).
    const gradInput = poisonedBuffer(gpu, 'gradInput', batch * inFeatures);
    const gradWeight = poisonedBuffer(gpu, 'gradWeight', outFeatures * inFeatures);
    const gradBias = poisonedBuffer(gpu, 'gradBias', outFeatures);
    submitDispatches(gpu, [
      ...(await linearBackwardInput(gpu, shape, gBuffer, wBuffer, gradInput)),
      ...(await linearBackwardWeight(gpu, shape, xBuffer, gBuffer, gradWeight, gradBias)),
    ]);
    const expected = linearBackwardReference(shape, x, w, gradOutput);
    const what = `${describe(shape)} seed=${seed}`;
    assertClose(await readF32(gpu, gradInput, batch * inFeatures), expected.gradInput, `gradInput ${what}`);
    assertClose(await readF32(gpu, gradWeight, outFeatures * inFeatures), expected.gradWeight, `gradWeight ${what}`);
    assertClose(await readF32(gpu, gradBias, outFeatures), expected.gradBias, `gradBias ${what}`);
    for (const buffer of [xBuffer, wBuffer, gBuffer, gradInput, gradWeight, gradBias]) buffer.destroy();
  });
}

test('parameters and gradients may be 256-byte-aligned ranges of one flat buffer', async () => {
  const gpu = await sharedGpu();
  const shape = { batch: 5, inFeatures: 7, outFeatures: 3 };
  const { seed, x, w, b, gradOutput } = randomInputs(shape);
  // Parameter layout as in src/nn/parameters.ts: weight at float 0, bias at float 64 (byte 256).
  const flat = new Float32Array(128).fill(1e6);
  flat.set(w, 0);
  flat.set(b, 64);
  const params = f32Buffer(gpu, 'params', flat);
  const grads = poisonedBuffer(gpu, 'grads', 128);
  const weight = { buffer: params, offset: 0, size: 4 * w.length };
  const bias = { buffer: params, offset: 256, size: 4 * b.length };
  const [xBuffer, gBuffer] = [f32Buffer(gpu, 'x', x), f32Buffer(gpu, 'gradOutput', gradOutput)];
  const output = poisonedBuffer(gpu, 'y', shape.batch * shape.outFeatures);
  submitDispatches(gpu, [
    ...(await linearForward(gpu, shape, {}, xBuffer, weight, bias, output)),
    ...(await linearBackwardWeight(gpu, shape, xBuffer, gBuffer, { buffer: grads, offset: 0, size: 4 * w.length }, {
      buffer: grads,
      offset: 256,
      size: 4 * b.length,
    })),
  ]);
  assertClose(
    await readF32(gpu, output, shape.batch * shape.outFeatures),
    linearForwardReference(shape, x, w, b),
    `forward seed=${seed}`,
  );
  const allGrads = await readF32(gpu, grads, 128);
  const expected = linearBackwardReference(shape, x, w, gradOutput);
  assertClose(allGrads.subarray(0, w.length), expected.gradWeight, `gradWeight seed=${seed}`);
  assertClose(allGrads.subarray(64, 64 + b.length), expected.gradBias, `gradBias seed=${seed}`);
  for (const i of [w.length, 63, 64 + b.length, 127]) {
    assert.ok(Number.isNaN(allGrads[i]), `gradient element ${i} outside its range was written`);
  }
  for (const buffer of [params, grads, xBuffer, gBuffer, output]) buffer.destroy();
});

test('backward is bit-identical run after run', async () => {
  const gpu = await sharedGpu();
  const shape = { batch: 64, inFeatures: 500, outFeatures: 10 };
  const { x, w, gradOutput } = randomInputs(shape);
  const [xBuffer, wBuffer, gBuffer] = [
    f32Buffer(gpu, 'x', x),
    f32Buffer(gpu, 'w', w),
    f32Buffer(gpu, 'gradOutput', gradOutput),
  ];
  const results: Uint32Array[][] = [];
  for (let run = 0; run < 2; run++) {
    const gradInput = poisonedBuffer(gpu, 'gradInput', x.length);
    const gradWeight = poisonedBuffer(gpu, 'gradWeight', w.length);
    const gradBias = poisonedBuffer(gpu, 'gradBias', shape.outFeatures);
    submitDispatches(gpu, [
      ...(await linearBackwardInput(gpu, shape, gBuffer, wBuffer, gradInput)),
      ...(await linearBackwardWeight(gpu, shape, xBuffer, gBuffer, gradWeight, gradBias)),
    ]);
    results.push([
      await readU32(gpu, gradInput, x.length),
      await readU32(gpu, gradWeight, w.length),
      await readU32(gpu, gradBias, shape.outFeatures),
    ]);
    for (const buffer of [gradInput, gradWeight, gradBias]) buffer.destroy();
  }
  ['gradInput', 'gradWeight', 'gradBias'].forEach((name, i) => assertExactlyEqual(results[1][i], results[0][i], name));
  for (const buffer of [xBuffer, wBuffer, gBuffer]) buffer.destroy();
});

// The reference backward is the ground truth of the GPU tests, so check it against central finite
// differences of the reference forward, in float64, for the loss L = sum(y ⊙ gradOutput).
test('backward reference matches finite differences', () => {
  const seed = testSeed();
  const rng = new Rng(seed);
  const shape = { batch: 3, inFeatures: 4, outFeatures: 5 };
  const x = Array.from({ length: 12 }, () => rng.uniform(-1, 1));
  const w = Array.from({ length: 20 }, () => rng.uniform(-1, 1));
  const b = Array.from({ length: 5 }, () => rng.uniform(-1, 1));
  const gradOutput = Array.from({ length: 15 }, () => rng.uniform(-1, 1));
  const loss = () => linearForwardReference(shape, x, w, b).reduce((sum, y, i) => sum + y * gradOutput[i], 0);
  const numeric = (values: number[]) => numericGradient(values, loss, 1e-6);
  const analytic = linearBackwardReference(shape, x, w, gradOutput);
  assertClose(analytic.gradInput, numeric(x), `gradInput seed=${seed}`, 1e-8);
  assertClose(analytic.gradWeight, numeric(w), `gradWeight seed=${seed}`, 1e-8);
  assertClose(analytic.gradBias, numeric(b), `gradBias seed=${seed}`, 1e-8);
});

test('rejects bad shapes with a clear message', async () => {
  const gpu = await sharedGpu();
  const buffer = poisonedBuffer(gpu, 'x', 4);
  for (const shape of [{ batch: 0, inFeatures: 1, outFeatures: 1 }, { batch: 1, inFeatures: 2.5, outFeatures: 1 }]) {
    try {
      await linearForward(gpu, shape, {}, buffer, buffer, buffer, buffer);
      assert.unreachable(`accepted ${describe(shape)}`);
    } catch (err) {
      assert.instance(err, RangeError);
      assert.match((err as Error).message, /linear: (batch|inFeatures) must be a positive integer/);
    }
  }
  buffer.destroy();
});

test.run();
