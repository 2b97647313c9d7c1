// avgpool2d (and global average pooling) on the GPU against the float64 reference, poisoned outputs,
// odd shapes; the reference's backward against finite differences.
import { suite } from 'uvu';
import { Rng } from '../../src/util/random.ts';
import { avgPool2dBackward, avgPool2dForward } from '../../src/kernels/avgpool2d.ts';
import { avgPool2dBackwardReference, avgPool2dForwardReference } from '../../src/reference/avgpool2d.ts';
import { avgPool2dOutputSize, type AvgPool2dShape } from '../../src/util/shapes.ts';
import { f32Buffer, sharedGpu } from '../helpers/gpu.ts';
import { checkKernel } from '../helpers/kernel.ts';
import { assertClose, assertRejects, numericGradient, testSeed } from '../helpers/compare.ts';

const test = suite('avgpool2d');

const SHAPES: [string, AvgPool2dShape][] = [
  ['2x2 over MNIST-sized planes', { batch: 4, channels: 10, height: 24, width: 24, kernel: 2, stride: 2 }],
  ['global over 7x7 (64 channels)', { batch: 3, channels: 64, height: 7, width: 7, kernel: 7, stride: 7 }],
  ['odd 7x9, 2x2: a row and a column uncovered', { batch: 2, channels: 3, height: 7, width: 9, kernel: 2, stride: 2 }],
  ['overlapping 3x3 at stride 2', { batch: 2, channels: 2, height: 11, width: 10, kernel: 3, stride: 2 }],
  ['overlapping 3x3 at stride 1', { batch: 1, channels: 3, height: 6, width: 5, kernel: 3, stride: 1 }],
  ['2x2 at stride 3: gaps', { batch: 2, channels: 2, height: 8, width: 10, kernel: 2, stride: 3 }],
  ['global over 1x1', { batch: 5, channels: 3, height: 1, width: 1, kernel: 1, stride: 1 }],
];

for (const [name, shape] of SHAPES) {
  test(`forward and backward match the reference: ${name}`, async () => {
    const seed = testSeed();
    const gpu = await sharedGpu();
    const rng = new Rng(seed);
    const { outH, outW } = avgPool2dOutputSize(shape);
    const planes = shape.batch * shape.channels;
    const x = rng.f32(planes * shape.height * shape.width, -2, 2);
    const gy = rng.f32(planes * outH * outW);
    await checkKernel(gpu, {
      what: `${name} seed ${seed}`,
      inputs: { x, gy },
      outputs: { y: gy.length, gx: x.length },
      dispatch: async (
        b,
      ) => [...(await avgPool2dForward(gpu, shape, b.x, b.y)), ...(await avgPool2dBackward(gpu, shape, b.gy, b.gx))],
      expected: { y: avgPool2dForwardReference(shape, x), gx: avgPool2dBackwardReference(shape, gy) },
    });
  });
}

test('the backward reference agrees with float64 finite differences', () => {
  const shape: AvgPool2dShape = { batch: 2, channels: 2, height: 5, width: 6, kernel: 3, stride: 2 };
  const rng = new Rng(testSeed());
  const x = Array.from({ length: 120 }, () => rng.uniform(-1, 1));
  const w = Array.from({ length: avgPool2dForwardReference(shape, x).length }, () => rng.uniform(-1, 1));
  const loss = () => avgPool2dForwardReference(shape, x).reduce((s, v, i) => s + w[i] * v, 0);
  assertClose(avgPool2dBackwardReference(shape, w), numericGradient(x, loss, 1e-6), 'avgpool2d backward', 1e-8);
});

test('a window bigger than the input is refused', async () => {
  const gpu = await sharedGpu();
  const big = f32Buffer(gpu, 'big', new Float32Array(64));
  await assertRejects(
    () => avgPool2dForward(gpu, { batch: 1, channels: 1, height: 3, width: 3, kernel: 4, stride: 4 }, big, big),
    /does not fit a 3x3 input/,
  );
  big.destroy();
});

test.run();
