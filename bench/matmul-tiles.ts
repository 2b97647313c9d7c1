// Times shaders/matmul.wgsl on the MNIST linear-layer shapes and sweeps its register block and
// workgroup size. For each choice it prints wall-clock GFLOP/s and GFLOP per CPU second of the
// shader threads; the second is what to compare when other processes share the CPU, since their
// load inflates wall time (a sweep ranks by it where /proc is available).
//   node build/bench/matmul-tiles.js            sweep on the fc1 (2000 -> 500, batch 64) shapes
//   node build/bench/matmul-tiles.js '{"rows":16,"columns":16,"workgroup":8}'
//                                               one choice (missing keys from the defaults), all shapes
//   deno run -A bench/matmul-tiles.ts [same]
//   node build/bench/matmul-tiles.js --texture  the same sweep for shaders/matmul_texture.wgsl on fc1's
//                                               forward at batch 1000 and weight gradient at batch 64
// Each new shape and choice compiles a pipeline first (about 2 s on lavapipe), not timed.
import process from 'node:process';
import { openGpu } from '../src/gpu/device.ts';
import { createStorageBuffer } from '../src/gpu/buffers.ts';
import { DEFAULT_MATMUL_TILES, matmul, type MatmulShape, type MatmulTiles } from '../src/kernels/matmul.ts';
import { DEFAULT_TEXTURE_MATMUL_TILES, matmulTexture } from '../src/kernels/matmul_texture.ts';
import { createPackedMatrix, packMatrix } from '../src/kernels/layout.ts';
import { submitDispatches } from '../src/gpu/kernel.ts';
import { Rng } from '../src/util/random.ts';
import { randomBuffer, timeDispatches } from './timing.ts';

type BenchShape = [name: string, shape: MatmulShape, options: { bias?: boolean; relu?: boolean }];

const FC1_SHAPES: BenchShape[] = [
  ['fc1 forward      64x500x2000  Bᵀ', { m: 64, n: 500, k: 2000, transposeB: true }, { bias: true, relu: true }],
  ['fc1 grad input   64x2000x500    ', { m: 64, n: 2000, k: 500 }, {}],
  ['fc1 grad weight 500x2000x64   Aᵀ', { m: 500, n: 2000, k: 64, transposeA: true }, {}],
];

const OTHER_SHAPES: BenchShape[] = [
  ['fc2 forward      64x10x500    Bᵀ', { m: 64, n: 10, k: 500, transposeB: true }, { bias: true }],
  ['fc2 grad input   64x500x10      ', { m: 64, n: 500, k: 10 }, {}],
  ['fc2 grad weight  10x500x64    Aᵀ', { m: 10, n: 500, k: 64, transposeA: true }, {}],
  ['square         512x512x512      ', { m: 512, n: 512, k: 512 }, {}],
  ['fc1 eval       1000x500x2000  Bᵀ', { m: 1000, n: 500, k: 2000, transposeB: true }, { bias: true, relu: true }],
];

/** Register blocks at the default workgroup size, then workgroup sizes at the default block. */
function sweep(): MatmulTiles[] {
  const out: MatmulTiles[] = [];
  const key = (t: MatmulTiles) => JSON.stringify(t);
  for (const rows of [8, 16, 24, 32]) {
    for (const columns of [4, 8, 10, 12, 16]) out.push({ rows, columns, workgroup: DEFAULT_MATMUL_TILES.workgroup });
  }
  for (const workgroup of [1, 4, 8, 16, 32, 64]) {
    const tiles = { ...DEFAULT_MATMUL_TILES, workgroup };
    if (!out.some((t) => key(t) === key(tiles))) out.push(tiles);
  }
  return out;
}

if (process.argv[2] === '--texture') {
  await sweepTexture();
  process.exit(0);
}

const single = process.argv[2] !== undefined;
const choices: MatmulTiles[] = single ? [{ ...DEFAULT_MATMUL_TILES, ...JSON.parse(process.argv[2]) }] : sweep();
const shapes = single ? [...FC1_SHAPES, ...OTHER_SHAPES] : FC1_SHAPES;
const gpu = await openGpu();
console.log(`${gpu.adapterName}; default tiles ${JSON.stringify(DEFAULT_MATMUL_TILES)}`);
const rng = new Rng(1);
for (const [name, shape, options] of shapes) {
  const a = randomBuffer(gpu, 'a', shape.m * shape.k, rng);
  const b = randomBuffer(gpu, 'b', shape.k * shape.n, rng);
  const bias = randomBuffer(gpu, 'bias', shape.n, rng);
  const c = createStorageBuffer(gpu, 'c', shape.m * shape.n * 4);
  const flops = 2 * shape.m * shape.n * shape.k;
  let best: [number, MatmulTiles] | undefined;
  for (const tiles of choices) {
    const dispatches = await matmul(
      gpu,
      shape,
      { bias: options.bias ? bias : undefined, relu: options.relu, tiles },
      a,
      b,
      c,
    );
    const { wallMs, cpuMs } = await timeDispatches(gpu, dispatches);
    const gflops = flops / wallMs / 1e6;
    const perCore = cpuMs === undefined ? undefined : flops / cpuMs / 1e6;
    const score = perCore ?? gflops;
    if (!best || score > best[0]) best = [score, tiles];
    console.log(
      `${name}  ${JSON.stringify(tiles).padEnd(40)} ${wallMs.toFixed(2).padStart(7)} ms ${
        gflops.toFixed(2).padStart(6)
      } GFLOP/s` +
        (perCore === undefined ? '' : `   ${perCore.toFixed(2).padStart(6)} GFLOP per shader-thread CPU second`),
    );
  }
  if (choices.length > 1) {
    console.log(`best for ${name.trim()}: ${JSON.stringify(best![1])} (${best![0].toFixed(2)})\n`);
  }
  for (const buffer of [a, b, bias, c]) buffer.destroy();
}
await gpu.close();

/** Register blocks and workgroup sizes of the texture product, on its two fc1 shapes (packing not timed). */
async function sweepTexture(): Promise<void> {
  const gpu = await openGpu();
  console.log(`${gpu.adapterName}; texture product, default tiles ${JSON.stringify(DEFAULT_TEXTURE_MATMUL_TILES)}`);
  const rng = new Rng(1);
  const choices: MatmulTiles[] = [];
  for (const rows of [8, 12, 16, 20, 24]) {
    for (const columns of [8, 12, 16, 20, 24]) choices.push({ rows, columns, workgroup: 8 });
  }
  for (const workgroup of [4, 16, 32]) choices.push({ ...DEFAULT_TEXTURE_MATMUL_TILES, workgroup });
  const shapes: [string, { m: number; n: number; k: number }][] = [
    ['fc1 eval forward 1000x500x2000 ', { m: 1000, n: 500, k: 2000 }],
    ['fc1 grad weight    500x2000x64 ', { m: 500, n: 2000, k: 64 }],
  ];
  for (const [name, shape] of shapes) {
    const a = randomBuffer(gpu, 'a', shape.m * shape.k, rng);
    const b = randomBuffer(gpu, 'b', shape.n * shape.k, rng);
    const c = createStorageBuffer(gpu, 'c', shape.m * shape.n * 4);
    const packedA = createPackedMatrix(gpu, 'a.packed', shape.m, shape.k);
    const packedB = createPackedMatrix(gpu, 'b.packed', shape.n, shape.k);
    submitDispatches(gpu, [
      await packMatrix(gpu, { rows: shape.m, k: shape.k }, a, packedA),
      await packMatrix(gpu, { rows: shape.n, k: shape.k }, b, packedB),
    ]);
    const flops = 2 * shape.m * shape.n * shape.k;
    let best: [number, MatmulTiles] | undefined;
    for (const tiles of choices) {
      const { wallMs, cpuMs } = await timeDispatches(
        gpu,
        await matmulTexture(gpu, shape, { tiles }, packedA, packedB, c),
      );
      const perCore = cpuMs === undefined ? undefined : flops / cpuMs / 1e6;
      const score = perCore ?? flops / wallMs / 1e6;
      if (!best || score > best[0]) best = [score, tiles];
      console.log(
        `${name} ${JSON.stringify(tiles).padEnd(40)} ${wallMs.toFixed(2).padStart(7)} ms ` +
          `${(flops / wallMs / 1e6).toFixed(2).padStart(6)} GFLOP/s` +
          (perCore === undefined ? '' : `   ${perCore.toFixed(2).padStart(6)} GFLOP per shader-thread CPU second`),
      );
    }
    console.log(`best for ${name.trim()}: ${JSON.stringify(best![1])} (${best![0].toFixed(2)})\n`);
    for (const buffer of [a, b, c]) buffer.destroy();
    for (const packed of [packedA, packedB]) packed.texture.destroy();
  }
  await gpu.close();
}
