import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import { conv2dForward, conv2dOutputSize, type Conv2dShape } from '../../src/kernels/conv2d.ts';
import {
  conv2dForwardTexture,
  conv2dTextureSuits,
  type Conv2dTextureTiles,
  createConv2dPackedOperands,
} from '../../src/kernels/conv2d_texture.ts';
import { conv2dForwardReference } from '../../src/reference/conv2d.ts';
import { createChannelsLastTexture, packChannelsLast } from '../../src/kernels/layout.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import { f32Buffer, poisonedBuffer, poisonTexture, readF32, readTexture, sharedGpu } from '../helpers/gpu.ts';
import { assertClose, assertExactlyEqual, assertRejects, testSeed } from '../helpers/compare.ts';

const test = suite('conv2d_forward_texture');

const describe = (s: Conv2dShape, tiles?: Partial<Conv2dTextureTiles>) =>
  `${s.batch}x${s.inChannels}x${s.height}x${s.width} -> ${s.outChannels}, ${s.kernelH}x${s.kernelW}` +
  (tiles ? ` tiles ${JSON.stringify(tiles)}` : '');

/**
 * The texture forward against the float64 reference and against shaders/conv2d_forward.wgsl, which sums
 * in the same order: the two must agree exactly. The textures are made for `capacity` images (a
 * partial batch packs fewer); the output is read past its end to catch stray writes.
 */
async function check(
  shape: Conv2dShape,
  options: { relu?: boolean; tiles?: Partial<Conv2dTextureTiles>; capacity?: number } = {},
) {
  const seed = testSeed();
  const what = `${describe(shape, options.tiles)} seed=${seed}`;
  const gpu = await sharedGpu();
  const rng = new Rng(seed);
  const { outH, outW } = conv2dOutputSize(shape);
  const input = rng.f32(shape.batch * shape.inChannels * shape.height * shape.width);
  const weight = rng.f32(shape.outChannels * shape.inChannels * shape.kernelH * shape.kernelW);
  const bias = rng.f32(shape.outChannels);
  const buffers = [
    f32Buffer(gpu, 'input', input),
    f32Buffer(gpu, 'weight', weight),
    f32Buffer(gpu, 'bias', bias),
  ] as const;
  const count = shape.batch * shape.outChannels * outH * outW;
  const out = poisonedBuffer(gpu, 'output', count + 8);
  const plain = poisonedBuffer(gpu, 'output.buffer-kernel', count);
  const packed = createConv2dPackedOperands(gpu, 'conv', { ...shape, batch: options.capacity ?? shape.batch });
  submitDispatches(gpu, await conv2dForwardTexture(gpu, shape, options, ...buffers, out, packed));
  submitDispatches(gpu, await conv2dForward(gpu, shape, { relu: options.relu }, ...buffers, plain));
  const all = await readF32(gpu, out, count + 8);
  for (let i = count; i < count + 8; i++) {
    assert.ok(Number.isNaN(all[i]), `${what}: element ${i} past the output was written`);
  }
  const actual = all.subarray(0, count);
  let expected = conv2dForwardReference(shape, input, weight, bias);
  if (options.relu) expected = expected.map((v) => Math.max(0, v));
  assertClose(actual, expected, what);
  assertExactlyEqual(actual, await readF32(gpu, plain, count), `${what}: texture vs buffer kernel`);
  for (const buffer of [...buffers, out, plain]) buffer.destroy();
  packed.input.texture.destroy();
  packed.weight.texture.destroy();
}

const conv1 = (batch: number): Conv2dShape => ({
  batch,
  inChannels: 1,
  height: 28,
  width: 28,
  outChannels: 10,
  kernelH: 5,
  kernelW: 5,
});

test('MNIST conv1 at batch 3, +ReLU', () => check(conv1(3), { relu: true }));
test('MNIST conv1, a partial batch of 1 in textures for 4', () => check(conv1(1), { capacity: 4 }));
test('odd shapes: width not a multiple of 4, several input channels, kernels 4 to 8 wide, ragged blocks', async () => {
  await check({ batch: 2, inChannels: 3, height: 9, width: 13, outChannels: 7, kernelH: 2, kernelW: 4 });
  await check({ batch: 1, inChannels: 2, height: 11, width: 10, outChannels: 3, kernelH: 3, kernelW: 8 }, {
    relu: true,
  });
  await check({ batch: 2, inChannels: 1, height: 7, width: 7, outChannels: 11, kernelH: 5, kernelW: 5 }, {
    tiles: { channelBlock: 3, rows: 1, columnTexels: 1, workgroup: 3 },
  });
});
// 600 images of 28 rows are 16,800 texture rows: more than an 8192-row texture holds, so the input is paged.
test('MNIST conv1 at batch 600: the input spans several columns of pages', () => check(conv1(600)));

/**
 * The texture forward pooling 2x2 into a channels-last texture must write exactly what the buffer kernel
 * followed by packChannelsLast's pool writes; rows of images past the batch stay poisoned.
 */
async function checkPooled(shape: Conv2dShape, options: { relu?: boolean; capacity?: number; nan?: boolean } = {}) {
  const seed = testSeed();
  const what = `${describe(shape)} pooled${options.relu ? ' +ReLU' : ''} seed=${seed}`;
  const gpu = await sharedGpu();
  const rng = new Rng(seed);
  const { outH, outW } = conv2dOutputSize(shape);
  const input = rng.f32(shape.batch * shape.inChannels * shape.height * shape.width);
  if (options.nan) input[5] = NaN;
  const weight = rng.f32(shape.outChannels * shape.inChannels * shape.kernelH * shape.kernelW);
  const bias = rng.f32(shape.outChannels);
  const buffers = [
    f32Buffer(gpu, 'input', input),
    f32Buffer(gpu, 'weight', weight),
    f32Buffer(gpu, 'bias', bias),
  ] as const;
  const capacity = options.capacity ?? shape.batch;
  const count = shape.batch * shape.outChannels * outH * outW;
  const plain = poisonedBuffer(gpu, 'output.buffer-kernel', count);
  const packed = createConv2dPackedOperands(gpu, 'conv', { ...shape, batch: capacity });
  const [ph, pw] = [Math.floor(outH / 2), Math.floor(outW / 2)];
  const fused = createChannelsLastTexture(gpu, 'pooled.fused', capacity, shape.outChannels, ph, pw);
  const separate = createChannelsLastTexture(gpu, 'pooled.separate', capacity, shape.outChannels, ph, pw);
  for (const t of [fused, separate]) poisonTexture(gpu, t.texture);
  submitDispatches(gpu, [
    ...await conv2dForwardTexture(gpu, shape, { relu: options.relu, pooled: fused }, ...buffers, plain, packed),
    ...await conv2dForward(gpu, shape, { relu: options.relu }, ...buffers, plain),
    await packChannelsLast(
      gpu,
      { items: shape.batch, channels: shape.outChannels, height: outH, width: outW, pool: 2 },
      plain,
      separate,
    ),
  ]);
  const [a, b] = [await readTexture(gpu, fused.texture), await readTexture(gpu, separate.texture)];
  const nanMask = (x: Float32Array) => Array.from(x, (v) => Number(Number.isNaN(v)));
  assertExactlyEqual(nanMask(a), nanMask(b), `${what}: where NaN (NaN wins a window; unwritten rows stay poisoned)`);
  assertExactlyEqual(a.map((v) => (Number.isNaN(v) ? 0 : v)), b.map((v) => (Number.isNaN(v) ? 0 : v)), what);
  if (!options.nan) {
    const written = shape.batch * ph * pw * 4 * Math.ceil(shape.outChannels / 4);
    assert.ok(
      a.subarray(0, written).every((v) => !Number.isNaN(v)) && a.subarray(written).every(Number.isNaN),
      `${what}: rows written`,
    );
  }
  for (const buffer of [...buffers, plain]) buffer.destroy();
  for (const t of [packed.input, packed.weight, fused, separate]) t.texture.destroy();
}

test('MNIST conv1 +ReLU pooled 2x2 into a channels-last texture, batch 3 in textures for 5', () =>
  checkPooled(conv1(3), { relu: true, capacity: 5 }));
test('pooled: odd output sizes drop the last row and column; 3 and 5 channels; no ReLU; a NaN', async () => {
  await checkPooled({ batch: 2, inChannels: 2, height: 12, width: 15, outChannels: 3, kernelH: 4, kernelW: 5 });
  await checkPooled({ batch: 1, inChannels: 1, height: 9, width: 9, outChannels: 5, kernelH: 5, kernelW: 5 }, {
    relu: true,
    nan: true,
  });
});

test('suits stride 1, no padding, kernels 4..8 wide only, and says so', async () => {
  assert.ok(conv2dTextureSuits(conv1(1)));
  assert.not.ok(conv2dTextureSuits({ ...conv1(1), kernelW: 3, kernelH: 3 }));
  assert.not.ok(conv2dTextureSuits({ ...conv1(1), stride: 2 }));
  assert.not.ok(conv2dTextureSuits({ ...conv1(1), padding: 1 }));
  const gpu = await sharedGpu();
  const shape = { ...conv1(1), padding: 1 };
  const x = f32Buffer(gpu, 'x', new Float32Array(4096));
  const packed = createConv2dPackedOperands(gpu, 'conv', conv1(1));
  await assertRejects(() => conv2dForwardTexture(gpu, shape, {}, x, x, x, x, packed), /stride 1, no padding/);
  x.destroy();
  packed.input.texture.destroy();
  packed.weight.texture.destroy();
});

test.run();
