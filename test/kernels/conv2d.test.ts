import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import {
  conv2dBackwardInput,
  type Conv2dBackwardInputTiles,
  conv2dBackwardWeight,
  type Conv2dBackwardWeightTiles,
  conv2dForward,
  type Conv2dForwardTiles,
  conv2dOutputSize,
  type Conv2dShape,
} from '../../src/kernels/conv2d.ts';
import {
  conv2dBackwardInputReference,
  conv2dBackwardWeightReference,
  conv2dForwardReference,
} from '../../src/reference/conv2d.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import type { Gpu } from '../../src/gpu/device.ts';
import { createStorageBuffer, writeBuffer } from '../../src/gpu/buffers.ts';
import { f32Buffer, POISON_BITS, poisonedBuffer, readF32, readU32, sharedGpu } from '../helpers/gpu.ts';
import { assertClose, assertExactlyEqual, numericGradient, testSeed } from '../helpers/compare.ts';
import { checkKernel } from '../helpers/kernel.ts';

const test = suite('conv2d');

const MNIST_CONV1: Conv2dShape = {
  batch: 64,
  inChannels: 1,
  height: 28,
  width: 28,
  outChannels: 10,
  kernelH: 5,
  kernelW: 5,
};
const MNIST_CONV2: Conv2dShape = {
  batch: 64,
  inChannels: 10,
  height: 12,
  width: 12,
  outChannels: 20,
  kernelH: 3,
  kernelW: 3,
};

// Each shape compiles its own pipelines (shapes are override constants), and lavapipe takes a few
// hundred milliseconds per pipeline, so the list covers the cases with few entries.
const SHAPES: [string, Conv2dShape][] = [
  ['MNIST conv1', MNIST_CONV1],
  ['MNIST conv2', MNIST_CONV2],
  ['MNIST conv2, batch 1', { ...MNIST_CONV2, batch: 1 }],
  ['odd 7x9 input, 2x3 kernel', {
    batch: 3,
    inChannels: 3,
    height: 7,
    width: 9,
    outChannels: 5,
    kernelH: 2,
    kernelW: 3,
  }],
  ['stride 2, padding 1', {
    batch: 2,
    inChannels: 3,
    height: 11,
    width: 10,
    outChannels: 6,
    kernelH: 3,
    kernelW: 3,
    stride: 2,
    padding: 1,
  }],
  ['stride 2, padding 2, 17 channels', {
    batch: 3,
    inChannels: 2,
    height: 13,
    width: 12,
    outChannels: 17,
    kernelH: 5,
    kernelW: 4,
    stride: 2,
    padding: 2,
  }],
  ['1x1 kernel, stride 3, 18 input channels', {
    batch: 2,
    inChannels: 18,
    height: 6,
    width: 7,
    outChannels: 3,
    kernelH: 1,
    kernelW: 1,
    stride: 3,
  }],
  ['11 wide kernel, padding 1', {
    batch: 2,
    inChannels: 2,
    height: 6,
    width: 20,
    outChannels: 3,
    kernelH: 2,
    kernelW: 11,
    padding: 1,
  }],
  ['kernel larger than input with padding 3, stride 3', {
    batch: 1,
    inChannels: 1,
    height: 2,
    width: 3,
    outChannels: 2,
    kernelH: 4,
    kernelW: 5,
    stride: 3,
    padding: 3,
  }],
];

/** A random small shape from the test seed, so repeated runs cover more of the space. */
function randomShape(rng: Rng): Conv2dShape {
  const kernelH = 1 + rng.int(5);
  const kernelW = 1 + rng.int(5);
  const padding = rng.int(3);
  return {
    batch: 1 + rng.int(4),
    inChannels: 1 + rng.int(12),
    height: Math.max(1, kernelH - 2 * padding) + rng.int(12),
    width: Math.max(1, kernelW - 2 * padding) + rng.int(12),
    outChannels: 1 + rng.int(24),
    kernelH,
    kernelW,
    stride: 1 + rng.int(3),
    padding,
  };
}

function sizes(shape: Conv2dShape) {
  const { outH, outW } = conv2dOutputSize(shape);
  return {
    input: shape.batch * shape.inChannels * shape.height * shape.width,
    weight: shape.outChannels * shape.inChannels * shape.kernelH * shape.kernelW,
    bias: shape.outChannels,
    output: shape.batch * shape.outChannels * outH * outW,
  };
}

const describe = (what: object | undefined) => JSON.stringify(what ?? 'default tiles');

async function checkForward(
  gpu: Gpu,
  shape: Conv2dShape,
  relu: boolean,
  seed: number,
  tiles?: Partial<Conv2dForwardTiles>,
): Promise<void> {
  const rng = new Rng(seed);
  const n = sizes(shape);
  const inputs = { input: rng.f32(n.input), weight: rng.f32(n.weight), bias: rng.f32(n.bias) };
  await checkKernel(gpu, {
    what: `forward relu=${relu} ${describe(shape)} ${describe(tiles)} seed=${seed}`,
    inputs,
    outputs: { output: n.output },
    dispatch: (b) => conv2dForward(gpu, shape, { relu, tiles }, b.input, b.weight, b.bias, b.output),
    expected: { output: conv2dForwardReference(shape, inputs.input, inputs.weight, inputs.bias, relu) },
  });
}

async function checkBackwardInput(
  gpu: Gpu,
  shape: Conv2dShape,
  seed: number,
  tiles?: Partial<Conv2dBackwardInputTiles>,
): Promise<void> {
  const rng = new Rng(seed);
  const n = sizes(shape);
  const inputs = { gradOutput: rng.f32(n.output), weight: rng.f32(n.weight) };
  await checkKernel(gpu, {
    what: `backward input ${describe(shape)} ${describe(tiles)} seed=${seed}`,
    inputs,
    outputs: { gradInput: n.input },
    dispatch: (b) => conv2dBackwardInput(gpu, shape, b.gradOutput, b.weight, b.gradInput, tiles),
    expected: { gradInput: conv2dBackwardInputReference(shape, inputs.gradOutput, inputs.weight) },
  });
}

async function checkBackwardWeight(
  gpu: Gpu,
  shape: Conv2dShape,
  seed: number,
  tiles?: Partial<Conv2dBackwardWeightTiles>,
): Promise<void> {
  const rng = new Rng(seed);
  const n = sizes(shape);
  const inputs = { input: rng.f32(n.input), gradOutput: rng.f32(n.output) };
  await checkKernel(gpu, {
    what: `backward ${describe(shape)} ${describe(tiles)} seed=${seed}`,
    inputs,
    outputs: { gradWeight: n.weight, gradBias: n.bias },
    dispatch: (b) => conv2dBackwardWeight(gpu, shape, b.input, b.gradOutput, b.gradWeight, b.gradBias, tiles),
    expected: conv2dBackwardWeightReference(shape, inputs.input, inputs.gradOutput),
  });
}

SHAPES.forEach(([name, shape], i) => {
  // The network fuses ReLU into both MNIST layers; elsewhere alternate, to cover both without
  // compiling every shape twice.
  const relu = i < 2 || i % 2 === 1;
  test(`forward${relu ? ' + ReLU' : ''}: ${name}`, async () => {
    await checkForward(await sharedGpu(), shape, relu, testSeed());
  });
  test(`backward input: ${name}`, async () => {
    await checkBackwardInput(await sharedGpu(), shape, testSeed());
  });
  test(`backward weight and bias: ${name}`, async () => {
    await checkBackwardWeight(await sharedGpu(), shape, testSeed());
  });
});

test('all three kernels on random shapes', async () => {
  const gpu = await sharedGpu();
  const seed = testSeed();
  const rng = new Rng(seed);
  for (let i = 0; i < 2; i++) {
    const shape = randomShape(rng);
    const shapeSeed = rng.nextU32();
    await checkForward(gpu, shape, i === 1, shapeSeed);
    await checkBackwardInput(gpu, shape, shapeSeed);
    await checkBackwardWeight(gpu, shape, shapeSeed);
  }
});

// Small shapes get small default blocks; these run large blocks with partial blocks on every axis.
test('non-default register blocks with partial blocks on every axis', async () => {
  const gpu = await sharedGpu();
  const shapes: Conv2dShape[] = [
    { batch: 3, inChannels: 2, height: 13, width: 12, outChannels: 17, kernelH: 5, kernelW: 4, stride: 2, padding: 2 },
    { batch: 2, inChannels: 7, height: 9, width: 11, outChannels: 9, kernelH: 3, kernelW: 2, padding: 1 },
  ];
  for (const shape of shapes) {
    const forward = { channelBlock: 5, columns: 4 };
    const input = { channelBlock: 4, columns: 5 };
    const weight = { channelBlock: 5, kernelRowBlock: 2, kernelColumnBlock: 3, rowsPerChunk: 4 };
    await checkForward(gpu, shape, true, testSeed(), forward);
    await checkBackwardInput(gpu, shape, testSeed(), input);
    await checkBackwardWeight(gpu, shape, testSeed(), weight);
  }
});

test('reference gradients match float64 finite differences of sum(output * R)', () => {
  const seed = testSeed();
  const rng = new Rng(seed);
  for (
    const shape of [
      { batch: 2, inChannels: 2, height: 5, width: 6, outChannels: 3, kernelH: 3, kernelW: 2, stride: 2, padding: 1 },
      { batch: 1, inChannels: 3, height: 4, width: 4, outChannels: 2, kernelH: 2, kernelW: 3 },
    ]
  ) {
    const n = sizes(shape);
    const input = Float64Array.from({ length: n.input }, () => rng.uniform(-1, 1));
    const weight = Float64Array.from({ length: n.weight }, () => rng.uniform(-1, 1));
    const bias = Float64Array.from({ length: n.bias }, () => rng.uniform(-1, 1));
    const r = Float64Array.from({ length: n.output }, () => rng.uniform(-1, 1));
    const loss = () => conv2dForwardReference(shape, input, weight, bias).reduce((sum, y, i) => sum + y * r[i], 0);
    const numeric = (values: Float64Array) => numericGradient(values, loss, 1e-5);
    const { gradWeight, gradBias } = conv2dBackwardWeightReference(shape, input, r);
    const what = `${describe(shape)} seed=${seed}`;
    assertClose(conv2dBackwardInputReference(shape, r, weight), numeric(input), `d/d input ${what}`, 1e-8);
    assertClose(gradWeight, numeric(weight), `d/d weight ${what}`, 1e-8);
    assertClose(gradBias, numeric(bias), `d/d bias ${what}`, 1e-8);
  }
});

test('same inputs give bit-identical outputs run after run', async () => {
  const gpu = await sharedGpu();
  const seed = testSeed();
  const rng = new Rng(seed);
  for (const shape of [MNIST_CONV1, MNIST_CONV2]) {
    const n = sizes(shape);
    const input = f32Buffer(gpu, 'input', rng.f32(n.input));
    const weight = f32Buffer(gpu, 'weight', rng.f32(n.weight));
    const bias = f32Buffer(gpu, 'bias', rng.f32(n.bias));
    const gradOutput = f32Buffer(gpu, 'gradOutput', rng.f32(n.output));
    const runs: Uint32Array[][] = [];
    for (let run = 0; run < 2; run++) {
      const output = poisonedBuffer(gpu, 'output', n.output);
      const gradInput = poisonedBuffer(gpu, 'gradInput', n.input);
      const gradWeight = poisonedBuffer(gpu, 'gradWeight', n.weight);
      const gradBias = poisonedBuffer(gpu, 'gradBias', n.bias);
      submitDispatches(gpu, [
        ...(await conv2dForward(gpu, shape, { relu: true }, input, weight, bias, output)),
        ...(await conv2dBackwardInput(gpu, shape, gradOutput, weight, gradInput)),
        ...(await conv2dBackwardWeight(gpu, shape, input, gradOutput, gradWeight, gradBias)),
      ]);
      runs.push([
        await readU32(gpu, output, n.output),
        await readU32(gpu, gradInput, n.input),
        await readU32(gpu, gradWeight, n.weight),
        await readU32(gpu, gradBias, n.bias),
      ]);
      for (const b of [output, gradInput, gradWeight, gradBias]) b.destroy();
    }
    const names = ['output', 'gradInput', 'gradWeight', 'gradBias'];
    names.forEach((name, i) =>
      assertExactlyEqual(runs[1][i], runs[0][i], `${name} bits ${describe(shape)} seed=${seed}`)
    );
    for (const b of [input, weight, bias, gradOutput]) b.destroy();
  }
});

test('tensors bound as ranges of shared buffers; nothing outside them is written', async () => {
  const gpu = await sharedGpu();
  const seed = testSeed();
  const rng = new Rng(seed);
  const shape = MNIST_CONV2;
  const n = sizes(shape);
  // Parameters and gradients live in flat buffers at 256-byte-aligned offsets, as the network lays them out.
  const weightOffset = 256;
  const biasOffset = weightOffset + Math.ceil((n.weight * 4) / 256) * 256;
  const flatWords = biasOffset / 4 + n.bias + 64;
  const weight = rng.f32(n.weight);
  const bias = rng.f32(n.bias);
  const params = poisonedBuffer(gpu, 'params', flatWords);
  writeBuffer(gpu, params, weight, weightOffset);
  writeBuffer(gpu, params, bias, biasOffset);
  const grads = poisonedBuffer(gpu, 'grads', flatWords);
  const input = rng.f32(n.input);
  const gradOutput = rng.f32(n.output);
  const inputBuffer = f32Buffer(gpu, 'input', input);
  const gradOutputBuffer = f32Buffer(gpu, 'gradOutput', gradOutput);
  const output = poisonedBuffer(gpu, 'output', n.output + 16);
  const gradInput = poisonedBuffer(gpu, 'gradInput', n.input + 16);
  const weightRange = { buffer: params, offset: weightOffset, size: n.weight * 4 };
  const biasRange = { buffer: params, offset: biasOffset, size: n.bias * 4 };
  submitDispatches(gpu, [
    ...(await conv2dForward(gpu, shape, { relu: true }, inputBuffer, weightRange, biasRange, output)),
    ...(await conv2dBackwardInput(gpu, shape, gradOutputBuffer, weightRange, gradInput)),
    ...(await conv2dBackwardWeight(gpu, shape, inputBuffer, gradOutputBuffer, {
      buffer: grads,
      offset: weightOffset,
      size: n.weight * 4,
    }, { buffer: grads, offset: biasOffset, size: n.bias * 4 })),
  ]);
  const what = `seed=${seed}`;
  assertClose(
    await readF32(gpu, output, n.output),
    conv2dForwardReference(shape, input, weight, bias, true),
    `forward ${what}`,
  );
  assertClose(
    await readF32(gpu, gradInput, n.input),
    conv2dBackwardInputReference(shape, gradOutput, weight),
    `gradInput ${what}`,
  );
  const expected = conv2dBackwardWeightReference(shape, input, gradOutput);
  const flat = await readU32(gpu, grads, flatWords);
  const flatF32 = new Float32Array(flat.buffer);
  assertClose(
    flatF32.subarray(weightOffset / 4, weightOffset / 4 + n.weight),
    expected.gradWeight,
    `gradWeight ${what}`,
  );
  assertClose(flatF32.subarray(biasOffset / 4, biasOffset / 4 + n.bias), expected.gradBias, `gradBias ${what}`);
  const written = (i: number) =>
    (i >= weightOffset / 4 && i < weightOffset / 4 + n.weight) || (i >= biasOffset / 4 && i < biasOffset / 4 + n.bias);
  for (let i = 0; i < flatWords; i++) {
    if (!written(i) && flat[i] !== POISON_BITS) {
      assert.unreachable(`grads word ${i} outside the gradient ranges was written`);
    }
  }
  const outputTail = await readU32(gpu, output, 16, n.output * 4);
  const gradInputTail = await readU32(gpu, gradInput, 16, n.input * 4);
  assert.ok(outputTail.every((w) => w === POISON_BITS), 'output written past its end');
  assert.ok(gradInputTail.every((w) => w === POISON_BITS), 'gradInput written past its end');
  for (const b of [params, grads, inputBuffer, gradOutputBuffer, output, gradInput]) b.destroy();
});

/** The message of the error `work` throws, or '' if it succeeds. */
async function errorOf(work: () => Promise<unknown>): Promise<string> {
  try {
    await work();
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

test('bad shapes and short buffers are rejected with a message naming the problem', async () => {
  const gpu = await sharedGpu();
  const small = createStorageBuffer(gpu, 'small', 16);
  const shape: Conv2dShape = { batch: 1, inChannels: 1, height: 4, width: 4, outChannels: 1, kernelH: 5, kernelW: 5 };
  assert.match(await errorOf(() => conv2dForward(gpu, shape, {}, small, small, small, small)), /does not fit/);
  assert.match(
    await errorOf(() =>
      conv2dForward(gpu, { ...shape, kernelH: 3, kernelW: 3, stride: 0 }, {}, small, small, small, small)
    ),
    /stride must be a positive integer/,
  );
  assert.match(
    await errorOf(() => conv2dBackwardInput(gpu, { ...shape, height: 8, width: 8 }, small, small, small)),
    /gradOutput needs 16 words/,
  );
  assert.match(
    await errorOf(() =>
      conv2dForward(
        gpu,
        { ...shape, kernelH: 3, kernelW: 3 },
        { tiles: { channelBlock: 9 } },
        small,
        small,
        small,
        small,
      )
    ),
    /channelBlock must be an integer in 1\.\.8, got 9/,
  );
  small.destroy();
});

test.run();
