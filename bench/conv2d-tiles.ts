// Times the conv2d kernels on the two MNIST conv layers at batch 64 (ms per dispatch list, averaged
// over RUNS submissions, waiting with onSubmittedWorkDone), for the default register blocks or others:
//   node build/bench/conv2d-tiles.js ['{"forward":{"columnBlock":8},"weight":{"rowsPerChunk":12}}']
//   deno run -A bench/conv2d-tiles.ts [same]
// With --implicit-gemm, sweeps the register block of conv2 as an implicit GEMM (evaluation's kernel)
// at batch 1000 instead, timed with timestamp queries (median of 5):
//   node build/bench/conv2d-tiles.js --implicit-gemm
import process from 'node:process';
import { type Gpu, openGpu } from '../src/gpu/device.ts';
import type { Dispatch } from '../src/gpu/kernel.ts';
import { createStorageBuffer } from '../src/gpu/buffers.ts';
import {
  conv2dBackwardInput,
  type Conv2dBackwardInputTiles,
  conv2dBackwardWeight,
  type Conv2dBackwardWeightTiles,
  conv2dForward,
  type Conv2dForwardTiles,
  conv2dOutputSize,
  type Conv2dShape,
} from '../src/kernels/conv2d.ts';
import { conv2dForwardImplicitGemm, defaultImplicitGemmTiles } from '../src/kernels/conv2d_implicit_gemm.ts';
import { createChannelsLastTexture, createPackedMatrix, packChannelsLast } from '../src/kernels/layout.ts';
import { submitDispatches } from '../src/gpu/kernel.ts';
import { profileDispatches } from '../src/gpu/profiler.ts';
import { Rng } from '../src/util/random.ts';
import { randomBuffer, timeDispatches } from './timing.ts';

const RUNS = 20;

interface TileChoice {
  forward?: Partial<Conv2dForwardTiles>;
  input?: Partial<Conv2dBackwardInputTiles>;
  weight?: Partial<Conv2dBackwardWeightTiles>;
}

const SHAPES: [string, Conv2dShape][] = [
  ['conv1 1->10 5x5 28x28', {
    batch: 64,
    inChannels: 1,
    height: 28,
    width: 28,
    outChannels: 10,
    kernelH: 5,
    kernelW: 5,
  }],
  ['conv2 10->20 3x3 12x12', {
    batch: 64,
    inChannels: 10,
    height: 12,
    width: 12,
    outChannels: 20,
    kernelH: 3,
    kernelW: 3,
  }],
];

const time = async (gpu: Gpu, dispatches: Dispatch[]) => (await timeDispatches(gpu, dispatches, RUNS, 0)).wallMs;

if (process.argv.includes('--implicit-gemm')) {
  await sweepImplicitGemm();
  process.exit(0);
}

/** conv2 (10 -> 20 channels, 3x3, 12x12) at batch 1000 for each register block of the implicit GEMM. */
async function sweepImplicitGemm(): Promise<void> {
  const gpu = await openGpu({ timestamps: true });
  const shape: Conv2dShape = {
    batch: 1000,
    inChannels: 10,
    height: 12,
    width: 12,
    outChannels: 20,
    kernelH: 3,
    kernelW: 3,
  };
  const rng = new Rng(1);
  const input = createChannelsLastTexture(gpu, 'input', shape.batch, 10, 12, 12);
  const weight = createChannelsLastTexture(gpu, 'weight', 20, 10, 3, 3);
  const sources = [randomBuffer(gpu, 'input', shape.batch * 1440, rng), randomBuffer(gpu, 'weight', 1800, rng)];
  const bias = randomBuffer(gpu, 'bias', 20, rng);
  submitDispatches(gpu, [
    await packChannelsLast(gpu, { items: shape.batch, channels: 10, height: 12, width: 12 }, sources[0], input),
    await packChannelsLast(gpu, { items: 20, channels: 10, height: 3, width: 3 }, sources[1], weight),
  ]);
  const output = createPackedMatrix(gpu, 'output', shape.batch, 2000);
  const flops = 2 * shape.batch * 20 * 100 * 90;
  console.log(
    `${gpu.adapterName}; conv2 at batch 1000 as an implicit GEMM, default ${
      JSON.stringify(defaultImplicitGemmTiles(shape))
    }`,
  );
  const results: [string, number][] = [];
  for (const rows of [4, 8, 12, 16, 20, 24]) {
    for (const columns of [5, 10, 20]) {
      for (const workgroup of [4, 8, 16]) {
        const tiles = { rows, columns, workgroup };
        const dispatch = await conv2dForwardImplicitGemm(
          gpu,
          shape,
          { relu: true, tiles },
          input,
          weight,
          bias,
          output,
        );
        const ms = (await profileDispatches(gpu, [dispatch], 5)).timings[0].milliseconds;
        results.push([JSON.stringify(tiles), ms]);
        console.log(
          `  ${JSON.stringify(tiles).padEnd(40)} ${ms.toFixed(2).padStart(7)} ms  ${
            (flops / ms / 1e6).toFixed(1)
          } GFLOP/s`,
        );
      }
    }
  }
  results.sort((a, b) => a[1] - b[1]);
  console.log(`fastest: ${results.slice(0, 3).map(([t, ms]) => `${t} ${ms.toFixed(2)} ms`).join(', ')}`);
  for (const t of [input, weight, output]) t.texture.destroy();
  for (const b of [...sources, bias]) b.destroy();
  await gpu.close();
}

const choice: TileChoice = process.argv[2] ? JSON.parse(process.argv[2]) : {};
const gpu = await openGpu();
console.log(`${gpu.adapterName}; tiles ${JSON.stringify(choice)}`);
const rng = new Rng(1);
for (const [name, shape] of SHAPES) {
  const { outH, outW } = conv2dOutputSize(shape);
  const inputCount = shape.batch * shape.inChannels * shape.height * shape.width;
  const outputCount = shape.batch * shape.outChannels * outH * outW;
  const weightCount = shape.outChannels * shape.inChannels * shape.kernelH * shape.kernelW;
  const input = randomBuffer(gpu, 'input', inputCount, rng);
  const weight = randomBuffer(gpu, 'weight', weightCount, rng);
  const bias = randomBuffer(gpu, 'bias', shape.outChannels, rng);
  const gradOutput = randomBuffer(gpu, 'gradOutput', outputCount, rng);
  const output = createStorageBuffer(gpu, 'output', outputCount * 4);
  const gradInput = createStorageBuffer(gpu, 'gradInput', inputCount * 4);
  const gradWeight = createStorageBuffer(gpu, 'gradWeight', weightCount * 4);
  const gradBias = createStorageBuffer(gpu, 'gradBias', shape.outChannels * 4);
  const macs = outputCount * shape.inChannels * shape.kernelH * shape.kernelW;
  const report = (kernel: string, ms: number) =>
    console.log(`${name}  ${kernel.padEnd(16)} ${ms.toFixed(3)} ms  ${((2 * macs) / ms / 1e6).toFixed(2)} GFLOP/s`);
  report(
    'forward+relu',
    await time(
      gpu,
      await conv2dForward(gpu, shape, { relu: true, tiles: choice.forward }, input, weight, bias, output),
    ),
  );
  report(
    'backward input',
    await time(gpu, await conv2dBackwardInput(gpu, shape, gradOutput, weight, gradInput, choice.input)),
  );
  report(
    'backward weight',
    await time(gpu, await conv2dBackwardWeight(gpu, shape, input, gradOutput, gradWeight, gradBias, choice.weight)),
  );
  for (const b of [input, weight, bias, gradOutput, output, gradInput, gradWeight, gradBias]) b.destroy();
}
await gpu.close();
