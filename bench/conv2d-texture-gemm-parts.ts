// Where a texture-GEMM convolution pass spends its time: each dispatch of the forward, weight-gradient
// and input-gradient passes of conv2d_texture_gemm.ts timed alone (packing vs product vs reduction),
// over the presets' wide layers or --shapes 'in,out,size,kernel,padding,batch;...'. Medians of --rounds.
//   node build/bench/conv2d-texture-gemm-parts.js [--shapes ...] [--rounds 3]
// Use Node: under Deno each timed submit carries ~3 ms of waiting, which swamps the small parts.
import process from 'node:process';
import { parseArgs } from 'node:util';
import { createStorageBuffer } from '../src/gpu/buffers.ts';
import { openGpu } from '../src/gpu/device.ts';
import type { Dispatch } from '../src/gpu/kernel.ts';
import { conv2dOutputSize, type Conv2dShape } from '../src/kernels/conv2d.ts';
import {
  conv2dBackwardInputTextureGemm,
  conv2dBackwardWeightTextureGemm,
  conv2dForwardTextureGemm,
  createTextureGemmOperands,
  destroyTextureGemmOperands,
} from '../src/kernels/conv2d_texture_gemm.ts';
import { timeDispatches } from './timing.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    shapes: {
      type: 'string',
      default: '16,32,14,3,1,64;32,48,26,3,0,64;48,64,12,3,0,64;64,96,10,3,0,64;96,128,4,3,0,64',
    },
    rounds: { type: 'string', default: '3' },
  },
});
const rounds = Number(values.rounds);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const gpu = await openGpu();
for (const item of values.shapes!.split(';').filter(Boolean)) {
  const [inChannels, outChannels, size, kernel, padding, batch] = item.split(',').map(Number);
  const shape: Conv2dShape = {
    batch,
    inChannels,
    height: size,
    width: size,
    outChannels,
    kernelH: kernel,
    kernelW: kernel,
    padding,
  };
  const out = conv2dOutputSize(shape).outH; // square planes: outW is the same
  const buffer = (label: string, n: number) => {
    const b = createStorageBuffer(gpu, label, n * 4);
    gpu.device.queue.writeBuffer(b, 0, Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.5));
    return b;
  };
  const input = buffer('input', batch * inChannels * size * size);
  const weight = buffer('weight', outChannels * inChannels * kernel * kernel);
  const bias = buffer('bias', outChannels);
  const gradOutput = buffer('gradOutput', batch * outChannels * out * out);
  const output = buffer('output', batch * outChannels * out * out);
  const gradInput = buffer('gradInput', batch * inChannels * size * size);
  const gradWeight = buffer('gradWeight', outChannels * inChannels * kernel * kernel);
  const gradBias = buffer('gradBias', outChannels);
  const operands = createTextureGemmOperands(gpu, item, shape, 'both');
  const passes: [string, Dispatch[]][] = [
    ['forward', await conv2dForwardTextureGemm(gpu, shape, { relu: true }, input, weight, bias, output, operands)],
    ['weight', await conv2dBackwardWeightTextureGemm(gpu, shape, {}, gradOutput, gradWeight, gradBias, operands)],
    [
      'input',
      await conv2dBackwardInputTextureGemm(
        gpu,
        shape,
        { gradOutputPacked: true },
        gradOutput,
        weight,
        gradInput,
        operands,
      ),
    ],
  ];
  const flop = 2 * batch * outChannels * out * out * inChannels * kernel * kernel;
  const parts: string[] = [];
  for (const [name, dispatches] of passes) {
    const each = dispatches.map((d) => d.kernel.label);
    const times: number[][] = dispatches.map(() => []);
    for (let r = 0; r < rounds; r++) {
      for (const [i, d] of dispatches.entries()) times[i].push((await timeDispatches(gpu, [d], 3, 0.3)).wallMs);
    }
    const ms = times.map(median);
    const product = Math.max(...ms);
    parts.push(
      `${name}: ` + ms.map((t, i) => `${each[i]} ${t.toFixed(2)}`).join(' + ') +
        ` ms (largest part ${(flop / product / 1e6).toFixed(1)} GFLOP/s)`,
    );
  }
  console.log(`${item}\n  ${parts.join('\n  ')}`);
  destroyTextureGemmOperands(operands);
  for (const b of [input, weight, bias, gradOutput, output, gradInput, gradWeight, gradBias]) b.destroy();
}
await gpu.close();
