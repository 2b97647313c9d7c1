// Times the weight gradient of conv2d texture-gemm (conv2d_texture_gemm_weight.wgsl + its gO pack and
// split sum) against the buffer kernel it replaced, on best's and fast's texture-gemm convolutions at
// batch 64, for the default tiles and each tile override given (JSON objects, one per argument):
//   node build/bench/conv2d-texture-gemm-weight.js ['{"outBlock":4,"columnBlock":8}' ...]
// Add --no-buffer to skip the buffer kernel, --only=conv2 to time shapes whose name has that text.
import process from 'node:process';
import { openGpu } from '../src/gpu/device.ts';
import { createStorageBuffer } from '../src/gpu/buffers.ts';
import { conv2dBackwardWeight, conv2dOutputSize, type Conv2dShape } from '../src/kernels/conv2d.ts';
import {
  conv2dBackwardWeightTextureGemm,
  createTextureGemmOperands,
  defaultTextureGemmWeightTiles,
  destroyTextureGemmOperands,
  packTiledPlanes,
  type TextureGemmWeightTiles,
} from '../src/kernels/conv2d_texture_gemm.ts';
import { submitDispatches } from '../src/gpu/kernel.ts';
import { Rng } from '../src/util/random.ts';
import { randomBuffer, timeDispatches, type Timing } from './timing.ts';

const conv = (inChannels: number, size: number, outChannels: number, padding: number): Conv2dShape => ({
  batch: 64,
  inChannels,
  height: size,
  width: size,
  outChannels,
  kernelH: 3,
  kernelW: 3,
  padding,
});
const SHAPES: [string, Conv2dShape][] = [
  ['best conv2 32->48 26x26', conv(32, 26, 48, 0)],
  ['best conv3 48->64 12x12', conv(48, 12, 64, 0)],
  ['best conv4 64->96 10x10', conv(64, 10, 96, 0)],
  ['best conv5 96->128 4x4', conv(96, 4, 128, 0)],
  ['fast conv2 16->32 14x14 pad 1', conv(16, 14, 32, 1)],
];

const args = process.argv.slice(2);
const buffer = !args.includes('--no-buffer');
const only = args.find((a) => a.startsWith('--only='))?.slice(7);
const overrides: Partial<TextureGemmWeightTiles>[] = [
  {},
  ...args.filter((a) => a.startsWith('{')).map((a) => JSON.parse(a)),
];
const gpu = await openGpu();
const rng = new Rng(1);
for (const [name, shape] of SHAPES) {
  if (only && !name.includes(only)) continue;
  const { outH, outW } = conv2dOutputSize(shape);
  const { batch, inChannels: c, outChannels: o, kernelH: kh, kernelW: kw, height, width } = shape;
  const input = randomBuffer(gpu, 'input', batch * c * height * width, rng);
  const gradOutput = randomBuffer(gpu, 'gradOutput', batch * o * outH * outW, rng);
  const gradWeight = createStorageBuffer(gpu, 'gradWeight', 4 * o * c * kh * kw);
  const gradBias = createStorageBuffer(gpu, 'gradBias', 4 * o);
  const operands = createTextureGemmOperands(gpu, name, shape, 'weight');
  submitDispatches(gpu, [await packTiledPlanes(gpu, batch, input, operands.input)]);
  const gflop = (2 * batch * o * outH * outW * c * kh * kw) / 1e9;
  const report = (what: string, t: Timing) =>
    console.log(
      `${name}  ${what.padEnd(72)} ${t.wallMs.toFixed(1).padStart(7)} ms (CPU ${t.cpuMs?.toFixed(1)} ms) ` +
        `${(gflop / t.wallMs * 1000).toFixed(1)} GFLOP/s`,
    );
  if (buffer) {
    const t = await timeDispatches(
      gpu,
      await conv2dBackwardWeight(gpu, shape, input, gradOutput, gradWeight, gradBias),
      3,
      0.5,
    );
    report('buffer kernel', t);
  }
  for (const tiles of overrides) {
    const full = { ...defaultTextureGemmWeightTiles(shape), ...tiles };
    const dispatches = await conv2dBackwardWeightTextureGemm(
      gpu,
      shape,
      { tiles },
      gradOutput,
      gradWeight,
      gradBias,
      operands,
    );
    const t = await timeDispatches(gpu, dispatches, 3, 0.5);
    report(`texture GEMM ${JSON.stringify(full)}`, t);
  }
  destroyTextureGemmOperands(operands);
  for (const b of [input, gradOutput, gradWeight, gradBias]) b.destroy();
}
process.exit(0);
