// Times the conv2d kernels on the two MNIST conv layers at batch 64 (ms per dispatch list, averaged
// over RUNS submissions, waiting with onSubmittedWorkDone), for the default register blocks or others:
//   node build/bench/conv2d-tiles.js ['{"forward":{"columnBlock":8},"weight":{"rowsPerChunk":12}}']
//   deno run -A bench/conv2d-tiles.ts [same]
import process from 'node:process';
import { openGpu, type Gpu } from '../src/gpu/device.ts';
import type { Dispatch } from '../src/gpu/kernel.ts';
import { createStorageBuffer } from '../src/gpu/buffers.ts';
import {
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dForward,
  conv2dOutputSize,
  type Conv2dBackwardInputTiles,
  type Conv2dBackwardWeightTiles,
  type Conv2dForwardTiles,
  type Conv2dShape,
} from '../src/kernels/conv2d.ts';
import { Rng } from '../src/util/random.ts';
import { randomBuffer, timeDispatches } from './timing.ts';

const RUNS = 20;

interface TileChoice {
  forward?: Partial<Conv2dForwardTiles>;
  input?: Partial<Conv2dBackwardInputTiles>;
  weight?: Partial<Conv2dBackwardWeightTiles>;
}

const SHAPES: [string, Conv2dShape][] = [
  ['conv1 1->10 5x5 28x28', { batch: 64, inChannels: 1, height: 28, width: 28, outChannels: 10, kernelH: 5, kernelW: 5 }],
  ['conv2 10->20 3x3 12x12', { batch: 64, inChannels: 10, height: 12, width: 12, outChannels: 20, kernelH: 3, kernelW: 3 }],
];

const time = async (gpu: Gpu, dispatches: Dispatch[]) => (await timeDispatches(gpu, dispatches, RUNS, 0)).wallMs;

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
  report('forward+relu', await time(gpu, await conv2dForward(gpu, shape, { relu: true, tiles: choice.forward }, input, weight, bias, output)));
  report('backward input', await time(gpu, await conv2dBackwardInput(gpu, shape, gradOutput, weight, gradInput, choice.input)));
  report('backward weight', await time(gpu, await conv2dBackwardWeight(gpu, shape, input, gradOutput, gradWeight, gradBias, choice.weight)));
  for (const b of [input, weight, bias, gradOutput, output, gradInput, gradWeight, gradBias]) b.destroy();
}
await gpu.close();
