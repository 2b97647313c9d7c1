// A shape map of the convolution as the CPU-driver class trains it: forward (+ ReLU), input gradient and
// weight gradient over shapes that small CNNs use, each with the variant the planner's rules choose for
// that shape (the buffer kernels, or from textures for wide layers: conv2d_texture_gemm.ts, its packing
// timed with it; tiles marked T) and the tiles the kernel modules choose by default, beside PyTorch's conv2d on the same
// shape in the same run
// (bench/pytorch_conv.py, 2 threads). Prints a table and writes an SVG chart of GFLOP/s per shape.
//   node build/bench/conv-shapes.js [--full] [--chart FILE.svg] [--shapes 'in,out,size,kernel,padding,batch;...']
//   deno run -A bench/conv-shapes.ts [same]
// The default grid is the presets' own layers plus a few wide-and-small and thin-and-large shapes (a few
// minutes); --full sweeps channels 1-256, spatial 2-32, kernels 3 and 5, padding 0 and 1, batch 64 and 256.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { createStorageBuffer } from '../src/gpu/buffers.ts';
import { openGpu } from '../src/gpu/device.ts';
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, conv2dOutputSize } from '../src/kernels/conv2d.ts';
import {
  defaultBackwardInputTiles,
  defaultBackwardWeightTiles,
  defaultForwardTiles,
} from '../src/kernels/conv2d_tiles.ts';
import {
  conv2dBackwardInputTextureGemm,
  conv2dBackwardWeightTextureGemm,
  conv2dForwardTextureGemm,
  createTextureGemmOperands,
  defaultTextureGemmTiles,
  defaultTextureGemmWeightTiles,
  destroyTextureGemmOperands,
} from '../src/kernels/conv2d_texture_gemm.ts';
import { trainsFromTextures } from '../src/nn/layers/conv2d.ts';
import { planRules } from '../src/nn/planner.ts';
import type { Conv2dShape } from '../src/util/shapes.ts';
import { Rng } from '../src/util/random.ts';
import { lineChart } from '../src/viz/charts.ts';
import { sceneToSvg } from '../src/viz/svg.ts';
import { projectRoot } from './epoch-figures.ts';
import { PYTHON } from './pytorch.ts';
import { randomBuffer, timeDispatches } from './timing.ts';

interface GridShape {
  name: string;
  batch: number;
  inChannels: number;
  outChannels: number;
  size: number;
  kernel: number;
  padding: number;
}

const shape = (name: string, inChannels: number, outChannels: number, size: number, kernel: number, padding = 0) => ({
  name,
  batch: 64,
  inChannels,
  outChannels,
  size,
  kernel,
  padding,
});

/** The presets' and tiny's layers at batch 64, then shapes no preset has. */
const DEFAULT_GRID: GridShape[] = [
  shape('digit conv1', 1, 10, 28, 5),
  shape('digit conv2', 10, 20, 12, 3),
  shape('fast conv1', 1, 16, 28, 3, 1),
  shape('fast conv2', 16, 32, 14, 3, 1),
  shape('best conv1', 1, 32, 28, 3),
  shape('best conv2', 32, 48, 26, 3),
  shape('best conv3', 48, 64, 12, 3),
  shape('best conv4', 64, 96, 10, 3),
  shape('best conv5', 96, 128, 4, 3),
  shape('tiny conv2', 8, 16, 14, 3),
  shape('wide small', 128, 256, 4, 3, 1),
  shape('wide 2x2', 256, 256, 2, 3, 1),
  shape('thin large 5x5', 4, 8, 32, 5, 1),
];

function fullGrid(): GridShape[] {
  const grid: GridShape[] = [];
  const pairs = [[1, 16], [8, 16], [16, 32], [32, 64], [64, 128], [128, 256], [256, 256]];
  for (const batch of [64, 256]) {
    for (const [inChannels, outChannels] of pairs) {
      for (const size of [2, 4, 8, 16, 32]) {
        for (const kernel of [3, 5]) {
          for (const padding of [0, 1]) {
            if (size + 2 * padding < kernel) continue;
            // A layer of more than ~2 GFLOP would take seconds per call on lavapipe: real small CNNs
            // do not pair 256 channels with 32x32 images.
            const s = { name: '', batch, inChannels, outChannels, size, kernel, padding };
            if (forwardFlops(s) > 2e9) continue;
            grid.push({ ...s, name: `${inChannels}->${outChannels} ${size}x${size} k${kernel} p${padding} b${batch}` });
          }
        }
      }
    }
  }
  return grid;
}

function parseShapes(text: string): GridShape[] {
  return text.split(';').filter(Boolean).map((item) => {
    const [inChannels, outChannels, size, kernel, padding, batch] = item.split(',').map(Number);
    if ([inChannels, outChannels, size, kernel, padding, batch].some((v) => !Number.isInteger(v))) {
      throw new Error(`--shapes: '${item}' is not in,out,size,kernel,padding,batch (six integers)`);
    }
    return {
      name: `${inChannels}->${outChannels} ${size}x${size} k${kernel} p${padding} b${batch}`,
      batch,
      inChannels,
      outChannels,
      size,
      kernel,
      padding,
    };
  });
}

function convShape(s: GridShape): Conv2dShape {
  return {
    batch: s.batch,
    inChannels: s.inChannels,
    height: s.size,
    width: s.size,
    outChannels: s.outChannels,
    kernelH: s.kernel,
    kernelW: s.kernel,
    padding: s.padding,
  };
}

function forwardFlops(s: GridShape): number {
  const { outH, outW } = conv2dOutputSize(convShape(s));
  return 2 * s.batch * s.outChannels * outH * outW * s.inChannels * s.kernel * s.kernel;
}

const PASSES = ['forward', 'input', 'weight'] as const;
type Pass = typeof PASSES[number];

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    full: { type: 'boolean', default: false },
    shapes: { type: 'string' },
    chart: { type: 'string', default: 'bench/conv-shapes.svg' },
    'no-pytorch': { type: 'boolean', default: false },
  },
});
const grid = values.shapes ? parseShapes(values.shapes) : values.full ? fullGrid() : DEFAULT_GRID;

function pytorchMs(): Record<Pass, number>[] | undefined {
  if (values['no-pytorch']) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'conv-shapes-'));
  try {
    const file = join(dir, 'shapes.json');
    writeFileSync(file, JSON.stringify(grid));
    const py = spawnSync(PYTHON, [join(projectRoot, 'bench', 'pytorch_conv.py'), file, '--threads', '2'], {
      encoding: 'utf8',
    });
    if (py.status !== 0) {
      console.error(`PyTorch peer skipped: ${(py.stderr || py.error?.message || '').trim().split('\n').at(-1)}`);
      return undefined;
    }
    return JSON.parse(py.stdout.trim().split('\n').at(-1)!);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const gpu = await openGpu();
const rng = new Rng(1);
/** Whether the CPU-driver rules train this shape from textures (src/nn/layers/conv2d.ts's choose). */
const fromTextures = (cs: Conv2dShape) => trainsFromTextures(cs, planRules('cpu-driver'), gpu.limits, true);
const ours: Record<Pass, number>[] = [];
for (const s of grid) {
  const cs = convShape(s);
  const { outH, outW } = conv2dOutputSize(cs);
  const inputCount = s.batch * s.inChannels * s.size * s.size;
  const outputCount = s.batch * s.outChannels * outH * outW;
  const weightCount = s.outChannels * s.inChannels * s.kernel * s.kernel;
  const input = randomBuffer(gpu, 'input', inputCount, rng);
  const weight = randomBuffer(gpu, 'weight', weightCount, rng);
  const bias = randomBuffer(gpu, 'bias', s.outChannels, rng);
  const gradOutput = randomBuffer(gpu, 'gradOutput', outputCount, rng);
  const output = createStorageBuffer(gpu, 'output', outputCount * 4);
  const gradInput = createStorageBuffer(gpu, 'gradInput', inputCount * 4);
  const gradWeight = createStorageBuffer(gpu, 'gradWeight', weightCount * 4);
  const gradBias = createStorageBuffer(gpu, 'gradBias', s.outChannels * 4);
  // Short windows: the grid is long, and the same-run PyTorch figure carries the load's effect.
  const time = async (dispatches: Parameters<typeof timeDispatches>[1]) =>
    (await timeDispatches(gpu, dispatches, 3, 0.3)).wallMs;
  const operands = fromTextures(cs) ? createTextureGemmOperands(gpu, s.name, cs, 'both') : undefined;
  // As a training step orders them: the texture weight gradient packs the output gradient, which the
  // input gradient then reads.
  const forward = await time(
    operands
      ? await conv2dForwardTextureGemm(gpu, cs, { relu: true }, input, weight, bias, output, operands)
      : await conv2dForward(gpu, cs, { relu: true }, input, weight, bias, output),
  );
  const weightGradient = await time(
    operands
      ? await conv2dBackwardWeightTextureGemm(gpu, cs, {}, gradOutput, gradWeight, gradBias, operands)
      : await conv2dBackwardWeight(gpu, cs, input, gradOutput, gradWeight, gradBias),
  );
  const inputGradient = await time(
    operands
      ? await conv2dBackwardInputTextureGemm(
        gpu,
        cs,
        { gradOutputPacked: true },
        gradOutput,
        weight,
        gradInput,
        operands,
      )
      : await conv2dBackwardInput(gpu, cs, gradOutput, weight, gradInput),
  );
  ours.push({ forward, input: inputGradient, weight: weightGradient });
  if (operands) destroyTextureGemmOperands(operands);
  for (const b of [input, weight, bias, gradOutput, output, gradInput, gradWeight, gradBias]) b.destroy();
  console.error(`${s.name}: ${PASSES.map((p) => `${p} ${ours.at(-1)![p].toFixed(2)} ms`).join(', ')}`);
}
await gpu.close();
const torch = pytorchMs();

const gflops = (s: GridShape, ms: number) => forwardFlops(s) / ms / 1e6;
const tilesOf = (s: GridShape) => {
  const cs = convShape(s);
  if (fromTextures(cs)) {
    const { outH, outW } = conv2dOutputSize(cs);
    const f = defaultTextureGemmTiles(outH * outW, cs.outChannels);
    const i = defaultTextureGemmTiles(cs.height * cs.width, cs.inChannels);
    const w = defaultTextureGemmWeightTiles(cs);
    return `T ${f.rows}x${f.columns} / T ${i.rows}x${i.columns} / T ${w.outBlock}x${w.columnBlock}`;
  }
  const f = defaultForwardTiles(cs);
  const i = defaultBackwardInputTiles(cs);
  const w = defaultBackwardWeightTiles(cs);
  return `${f.channelBlock}x${f.columns} / ${i.channelBlock}x${i.columns} / ${w.channelBlock}x${w.kernelRowBlock}x${w.kernelColumnBlock}`;
};
console.log(
  `${gpu.adapterName}; GFLOP/s per pass, ours (default tiles) beside PyTorch ${
    torch ? '(2 threads, same run)' : '(skipped)'
  }`,
);
console.log(
  '| shape | MFLOP | tiles f / i / w | forward | PyTorch | input grad | PyTorch | weight grad | PyTorch |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
grid.forEach((s, k) => {
  const cells = PASSES.flatMap((p) => [
    gflops(s, ours[k][p]).toFixed(1),
    torch ? gflops(s, torch[k][p]).toFixed(1) : '-',
  ]);
  console.log(`| ${s.name} | ${(forwardFlops(s) / 1e6).toFixed(0)} | ${tilesOf(s)} | ${cells.join(' | ')} |`);
});

const colors = { forward: '#3b78b0', input: '#d1762f', weight: '#4a9a4a' };
const series = PASSES.flatMap((p) => [
  {
    name: `ours ${p}`,
    color: colors[p],
    markers: true,
    points: grid.map((s, k) => [k, gflops(s, ours[k][p])] as const),
  },
  ...(torch
    ? [{
      name: `PyTorch ${p}`,
      color: colors[p],
      dash: true,
      markers: true,
      points: grid.map((s, k) => [k, gflops(s, torch[k][p])] as const),
    }]
    : []),
]);
const svg = sceneToSvg(lineChart({
  name: 'conv-shapes',
  title: 'conv2d GFLOP/s by shape (x: shape number in the table)',
  xLabel: 'shape',
  yLabel: 'GFLOP/s',
  series,
  integerX: true,
  width: 720,
  height: 360,
}));
const chart = resolve(values.chart);
mkdirSync(dirname(chart), { recursive: true });
writeFileSync(`${chart}.partial`, svg);
renameSync(`${chart}.partial`, chart);
console.log(`chart: ${values.chart}`);
