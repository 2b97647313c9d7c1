// What a first-time user sees: `eval` (and a short `train`) with the driver's shader cache empty,
// then again with it warm, under Node (node dist/cli.js) and Deno (deno run src/cli.ts), alternating.
// The cache is emptied without touching the user's own: each cold run points Mesa at a new empty
// folder (MESA_SHADER_CACHE_DIR), and the warm run reuses it.
//   node build/bench/cold-start.js [--checkpoint CKPT] [--rounds 2] [--data DIR]     (needs npm run build)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { cliCommand, projectRoot } from './epoch-figures.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    checkpoint: { type: 'string' },
    rounds: { type: 'string', default: '2' },
    data: { type: 'string' },
  },
});
const cli = { node: cliCommand('node'), deno: cliCommand('deno') };
const dataArgs = values.data ? ['--data', values.data] : [];

interface Run {
  wall: number;
  json: Record<string, number>;
}

function run(runtime: 'node' | 'deno', args: string[], cacheDir: string): Run {
  const [command, ...prefix] = cli[runtime];
  const started = performance.now();
  const r = spawnSync(command, [...prefix, ...args, ...dataArgs, '--json'], {
    cwd: projectRoot,
    encoding: 'utf8',
    env: { ...process.env, MESA_SHADER_CACHE_DIR: cacheDir, NO_COLOR: '1' },
  });
  const wall = (performance.now() - started) / 1000;
  if (r.status !== 0) throw new Error(`${runtime} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  return { wall, json: Object.assign({}, ...lines) };
}

const scratch = mkdtempSync(join(tmpdir(), 'cold-start-'));
let checkpoint = values.checkpoint;
if (!checkpoint) {
  checkpoint = join(scratch, 'digit.safetensors');
  run(
    'node',
    ['train', '--epochs', '1', '--limit', '640', '--no-test', '--out', checkpoint],
    join(scratch, 'cache-setup'),
  );
}

const rows: string[] = [];
const fmt = (runtime: string, what: string, r: Run) =>
  `| ${runtime} | ${what} | ${r.wall.toFixed(1)} | ${(r.json.compile_seconds ?? NaN).toFixed(1)} | ${
    (r.json.images_per_second ?? NaN).toFixed(0)
  } |`;
for (let round = 0; round < Number(values.rounds); round++) {
  for (const runtime of round % 2 === 0 ? ['node', 'deno'] as const : ['deno', 'node'] as const) {
    const cache = join(scratch, `cache-${runtime}-${round}`);
    const cold = run(runtime, ['eval', '--checkpoint', checkpoint], cache);
    const warm = run(runtime, ['eval', '--checkpoint', checkpoint], cache);
    rows.push(
      fmt(runtime, `eval, cold cache (round ${round + 1})`, cold),
      fmt(runtime, `eval, warm cache (round ${round + 1})`, warm),
    );
    console.error(`${runtime} round ${round + 1}: cold ${cold.wall.toFixed(1)} s, warm ${warm.wall.toFixed(1)} s`);
  }
}
rmSync(scratch, { recursive: true, force: true });
console.log('| runtime | run | wall s | compile s | images/s (reported) |\n| --- | --- | --- | --- | --- |');
console.log(rows.join('\n'));
