import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import { conv2dOutputSize, type Conv2dShape } from '../../src/kernels/conv2d.ts';
import {
  conv2dForwardImplicitGemm,
  implicitGemmSuits,
  type ImplicitGemmTiles,
} from '../../src/kernels/conv2d_implicit_gemm.ts';
import {
  createChannelsLastTexture,
  createPackedMatrix,
  packChannelsLast,
  texelsPerRow,
} from '../../src/kernels/layout.ts';
import { conv2dForwardReference } from '../../src/reference/conv2d.ts';
import { channelsLastReference } from '../../src/reference/layout.ts';
import { maxPool2dForwardReference } from '../../src/reference/maxpool2d.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import { f32Buffer, poisonTexture, readTexture, sharedGpu } from '../helpers/gpu.ts';
import { assertClose, assertExactlyEqual, assertRejects, testSeed } from '../helpers/compare.ts';

const test = suite('conv2d_implicit_gemm');

interface PackCase {
  items: number;
  channels: number;
  height: number;
  width: number;
  pool?: number;
  stride?: number;
  /** Items the texture holds beyond those packed: they must stay as they were. */
  spare?: number;
}

/** packChannelsLast against the CPU max-pool and layout; the texture starts poisoned, rows past `items` must stay so. */
async function checkPack(c: PackCase): Promise<void> {
  const seed = testSeed();
  const what = `${c.items}x${c.channels}x${c.height}x${c.width} pool ${c.pool ?? 1} stride ${
    c.stride ?? c.pool ?? 1
  } seed=${seed}`;
  const gpu = await sharedGpu();
  const rng = new Rng(seed);
  const values = rng.f32(c.items * c.channels * c.height * c.width);
  if (values.length > 3) values[3] = NaN; // a NaN wins its window, as in maxpool2d_forward.wgsl
  const pool = c.pool ?? 1;
  const poolShape = {
    batch: c.items,
    channels: c.channels,
    height: c.height,
    width: c.width,
    kernel: pool,
    stride: c.stride ?? pool,
  };
  const pooled = maxPool2dForwardReference(poolShape, values);
  const outH = Math.floor((c.height - pool) / (c.stride ?? pool)) + 1;
  const outW = Math.floor((c.width - pool) / (c.stride ?? pool)) + 1;
  const expected = channelsLastReference(c.items, c.channels, outH, outW, pooled.output);
  const src = f32Buffer(gpu, 'src', values);
  const dst = createChannelsLastTexture(gpu, 'dst', c.items + (c.spare ?? 0), c.channels, outH, outW);
  poisonTexture(gpu, dst.texture);
  submitDispatches(gpu, [await packChannelsLast(gpu, { ...c, stride: c.stride }, src, dst)]);
  const all = await readTexture(gpu, dst.texture);
  // NaN !== NaN: compare where each is NaN, then the rest exactly.
  const packed = all.subarray(0, expected.length);
  assertExactlyEqual(
    Array.from(packed, (v) => Number(Number.isNaN(v))),
    Array.from(expected, (v) => Number(Number.isNaN(v))),
    `${what}: where NaN`,
  );
  assertExactlyEqual(
    packed.map((v) => (Number.isNaN(v) ? 0 : v)),
    expected.map((v) => (Number.isNaN(v) ? 0 : v)),
    what,
  );
  assert.ok(all.subarray(expected.length).every(Number.isNaN), `${what}: rows past the packed items were written`);
  src.destroy();
  dst.texture.destroy();
}

test('packs NCHW channels-last: 1, 4, 5 and 10 channels, odd sizes', async () => {
  await checkPack({ items: 2, channels: 1, height: 3, width: 5 });
  await checkPack({ items: 1, channels: 4, height: 2, width: 2 });
  await checkPack({ items: 3, channels: 5, height: 7, width: 3, spare: 2 });
  await checkPack({ items: 20, channels: 10, height: 3, width: 3 }); // conv2's weights
});
test('pools while packing: 2x2 (MNIST, odd sizes drop the last row and column), overlapping 3x3 at stride 2', async () => {
  await checkPack({ items: 3, channels: 10, height: 24, width: 24, pool: 2 });
  await checkPack({ items: 2, channels: 6, height: 9, width: 7, pool: 2, spare: 1 });
  await checkPack({ items: 1, channels: 3, height: 11, width: 8, pool: 3, stride: 2 });
});

interface GemmCase {
  shape: Conv2dShape;
  relu?: boolean;
  tiles?: Partial<ImplicitGemmTiles>;
  /** Images the textures hold beyond shape.batch (a partial batch). */
  spare?: number;
}

const describe = (c: GemmCase) =>
  `${c.shape.batch}x${c.shape.inChannels}x${c.shape.height}x${c.shape.width} -> ` +
  `${c.shape.outChannels}, ${c.shape.kernelH}x${c.shape.kernelW}${c.relu ? ' +ReLU' : ''}` +
  (c.tiles ? ` tiles ${JSON.stringify(c.tiles)}` : '') + (c.spare ? ` in textures for ${c.shape.batch + c.spare}` : '');

/**
 * Input and weights packed by packChannelsLast, the product into a poisoned packed matrix of the
 * flattened output; against the float64 reference. Rows of images past the batch must stay poisoned.
 */
async function checkGemm(c: GemmCase): Promise<void> {
  const seed = testSeed();
  const what = `${describe(c)} seed=${seed}`;
  const gpu = await sharedGpu();
  const rng = new Rng(seed);
  const s = c.shape;
  const { outH, outW } = conv2dOutputSize(s);
  const capacity = s.batch + (c.spare ?? 0);
  const input = rng.f32(s.batch * s.inChannels * s.height * s.width);
  const weight = rng.f32(s.outChannels * s.inChannels * s.kernelH * s.kernelW);
  const bias = rng.f32(s.outChannels);
  const buffers = [f32Buffer(gpu, 'input', input), f32Buffer(gpu, 'weight', weight), f32Buffer(gpu, 'bias', bias)];
  const inputTexture = createChannelsLastTexture(gpu, 'input.cl', capacity, s.inChannels, s.height, s.width);
  const weightTexture = createChannelsLastTexture(gpu, 'weight.cl', s.outChannels, s.inChannels, s.kernelH, s.kernelW);
  const features = s.outChannels * outH * outW;
  const output = createPackedMatrix(gpu, 'output.packed', capacity, features);
  poisonTexture(gpu, output.texture);
  submitDispatches(gpu, [
    await packChannelsLast(
      gpu,
      { items: s.batch, channels: s.inChannels, height: s.height, width: s.width },
      buffers[0],
      inputTexture,
    ),
    await packChannelsLast(
      gpu,
      { items: s.outChannels, channels: s.inChannels, height: s.kernelH, width: s.kernelW },
      buffers[1],
      weightTexture,
    ),
    await conv2dForwardImplicitGemm(
      gpu,
      s,
      { relu: c.relu, tiles: c.tiles },
      inputTexture,
      weightTexture,
      buffers[2],
      output,
    ),
  ]);
  const all = await readTexture(gpu, output.texture);
  const rowFloats = 4 * texelsPerRow(features);
  assert.is(rowFloats, features, 'whole texels');
  let expected = conv2dForwardReference(s, input, weight, bias);
  if (c.relu) expected = expected.map((v) => Math.max(0, v));
  assertClose(all.subarray(0, s.batch * features), expected, what);
  assert.ok(all.subarray(s.batch * features).every(Number.isNaN), `${what}: rows past the batch were written`);
  for (const b of buffers) b.destroy();
  for (const t of [inputTexture, weightTexture, output]) t.texture.destroy();
}

const conv2 = (batch: number): Conv2dShape => ({
  batch,
  inChannels: 10,
  height: 12,
  width: 12,
  outChannels: 20,
  kernelH: 3,
  kernelW: 3,
});

test('MNIST conv2 at batch 3, +ReLU', () => checkGemm({ shape: conv2(3), relu: true }));
test('MNIST conv2, a partial batch of 1 in textures for 3', () => checkGemm({ shape: conv2(1), spare: 2 }));
test('odd shapes: 1 to 7 channels, 1x1 to 5x4 kernels, ragged blocks of positions and channels', async () => {
  await checkGemm({ shape: { batch: 2, inChannels: 1, height: 6, width: 5, outChannels: 3, kernelH: 3, kernelW: 3 } });
  await checkGemm({
    shape: { batch: 3, inChannels: 7, height: 8, width: 8, outChannels: 5, kernelH: 5, kernelW: 4 },
    relu: true,
    tiles: { rows: 8, columns: 2, workgroup: 3 },
  });
  await checkGemm({ shape: { batch: 1, inChannels: 4, height: 2, width: 2, outChannels: 25, kernelH: 1, kernelW: 1 } });
  await checkGemm({
    shape: { batch: 2, inChannels: 5, height: 8, width: 8, outChannels: 6, kernelH: 3, kernelW: 3 },
    tiles: { rows: 24, columns: 24, workgroup: 8 },
  });
});

test('suits stride 1, no padding and whole output texels only, and says so', async () => {
  const gpu = await sharedGpu();
  assert.ok(implicitGemmSuits(gpu.limits, conv2(1000)));
  assert.not.ok(implicitGemmSuits(gpu.limits, { ...conv2(1), stride: 2 }));
  assert.not.ok(implicitGemmSuits(gpu.limits, { ...conv2(1), padding: 1 }));
  assert.not.ok(implicitGemmSuits(gpu.limits, { ...conv2(1), height: 11 }), '9x10 outputs: 90 positions');
  assert.not.ok(
    implicitGemmSuits(gpu.limits, conv2(gpu.limits.maxTextureDimension2D + 1)),
    'more images than texture rows',
  );
  const x = f32Buffer(gpu, 'x', new Float32Array(16));
  const input = createChannelsLastTexture(gpu, 'in', 1, 10, 12, 12);
  const weight = createChannelsLastTexture(gpu, 'w', 20, 10, 3, 3);
  const output = createPackedMatrix(gpu, 'out', 1, 2000);
  await assertRejects(
    () => conv2dForwardImplicitGemm(gpu, { ...conv2(1), padding: 1 }, {}, input, weight, x, output),
    /stride 1, no padding/,
  );
  await assertRejects(
    () => conv2dForwardImplicitGemm(gpu, conv2(2), {}, input, weight, x, output),
    /holds 1 of 10x12x12, not 2/,
  );
  await assertRejects(
    () => conv2dForwardImplicitGemm(gpu, conv2(1), { tiles: { rows: 6 } }, input, weight, x, output),
    /multiple of 4/,
  );
  await assertRejects(
    () => packChannelsLast(gpu, { items: 1, channels: 10, height: 12, width: 12, pool: 2 }, x, input),
    /do not fit "in"/,
  );
  x.destroy();
  for (const t of [input, weight, output]) t.texture.destroy();
});

test.run();
