// The epoch a user runs: one full 60,000-image `digit` epoch through the real CLI (`train --epochs 1
// --no-test`), under Node (node dist/cli.js) and Deno (deno run src/cli.ts), then `eval`, with the
// seed's PyTorch program (../shared/gpu/seed_torch.py, 2 CPU threads) as the peer in the same run.
// Each JSON event of the CLI is timestamped as it arrives, which splits the epoch into start-up
// (process start to kernels compiled), ramp (to the steady rate), the steady rate (images/s between 25 %
// and 90 % of the epoch), and the tail (the last progress event to the process's exit: final
// readback, checkpoint write, teardown). Medians over --rounds (this VM's speed drifts).
//   node build/bench/epoch.js [--rounds 3] [--runtimes node,deno] [--no-torch] [--json FILE]   (needs npm run build)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { MNIST_FILES, resolveDataDir } from '../src/data/mnist.ts';
import { PYTHON, hasTorch } from './pytorch.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    rounds: { type: 'string', default: '3' },
    runtimes: { type: 'string', default: 'node,deno' },
    'no-torch': { type: 'boolean', default: false },
    json: { type: 'string' },
    data: { type: 'string' },
  },
});
const root = resolve(import.meta.dirname ?? '.', '..', ...(import.meta.url.includes('/build/') ? ['..'] : []));
const deno = existsSync(join(root, 'node_modules', '.bin', 'deno')) ? join(root, 'node_modules', '.bin', 'deno') : 'deno';
const cli: Record<string, string[]> = { node: ['node', join(root, 'dist', 'cli.js')], deno: [deno, 'run', '-A', join(root, 'src', 'cli.ts')] };
if (!existsSync(cli.node[1])) throw new Error(`${cli.node[1]} is missing: run npm run build first`);
const dataDir = resolveDataDir(values.data);
const scratch = mkdtempSync(join(tmpdir(), 'epoch-bench-'));

interface Event {
  at: number;
  event: string;
  [key: string]: unknown;
}

/** Runs the CLI with --json, timestamping every event line (seconds since spawn). */
function timedRun(runtime: string, args: string[]): Promise<{ events: Event[]; exitAt: number }> {
  const [command, ...prefix] = cli[runtime];
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(command, [...prefix, ...args, '--data', dataDir, '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const events: Event[] = [];
    let pending = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      const at = (performance.now() - started) / 1000;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines.filter(Boolean)) events.push({ at, ...JSON.parse(line) });
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${runtime} ${args.join(' ')} exited ${code}: ${stderr}`));
      resolvePromise({ events, exitAt: (performance.now() - started) / 1000 });
    });
  });
}

interface EpochFigures {
  wall: number;
  reported: number;
  startup: number;
  ramp: number;
  steady: number;
  tail: number;
  eval: number;
}

async function epochOf(runtime: string, round: number): Promise<EpochFigures> {
  const out = join(scratch, `${runtime}-${round}.safetensors`);
  const { events, exitAt } = await timedRun(runtime, ['train', '--epochs', '1', '--no-test', '--out', out]);
  const compiled = events.find((e) => e.event === 'compiled');
  const progress = events.filter((e) => e.event === 'progress') as (Event & { batch: number; batches: number })[];
  const epoch = events.find((e) => e.event === 'epoch') as Event & { images_per_second: number };
  const batches = progress[0]?.batches ?? 938;
  const window = progress.filter((p) => p.batch >= 0.25 * batches && p.batch <= 0.9 * batches);
  const first = window[0];
  const last = window.at(-1);
  const steady = first && last && last.at > first.at ? (64 * (last.batch - first.batch)) / (last.at - first.at) : NaN;
  // The ramp: from compiled to the first progress event whose rate since the previous one is within 10 % of steady.
  let rampEnd = compiled?.at ?? 0;
  for (let i = 1; i < progress.length; i++) {
    const rate = (64 * (progress[i].batch - progress[i - 1].batch)) / (progress[i].at - progress[i - 1].at);
    if (rate >= 0.9 * steady) {
      rampEnd = progress[i - 1].at;
      break;
    }
  }
  const lastProgress = progress.at(-1)?.at ?? epoch.at;
  const evaluated = await timedRun(runtime, ['eval', '--checkpoint', out]);
  const report = evaluated.events.find((e) => e.event === undefined || 'images_per_second' in e) as Event & { images_per_second: number };
  return {
    wall: exitAt,
    reported: epoch.images_per_second,
    startup: compiled?.at ?? NaN,
    ramp: rampEnd - (compiled?.at ?? 0),
    steady,
    tail: exitAt - lastProgress,
    eval: report.images_per_second,
  };
}

/** The seed's PyTorch program wants torchvision's layout: <root>/MNIST/raw/<file>, uncompressed. */
function torchDataRoot(): string {
  const raw = join(scratch, 'torch', 'MNIST', 'raw');
  mkdirSync(raw, { recursive: true });
  for (const split of Object.values(MNIST_FILES)) {
    for (const file of [split.images, split.labels]) {
      const plain = join(dataDir, file.name);
      const bytes = existsSync(plain) ? readFileSync(plain) : gunzipSync(readFileSync(`${plain}.gz`));
      writeFileSync(join(raw, file.name), bytes);
    }
  }
  return join(scratch, 'torch');
}

function torchEpoch(dataRoot: string): { train: number; eval: number } | null {
  const script = resolve(root, '..', 'shared', 'gpu', 'seed_torch.py');
  if (!existsSync(script)) {
    console.error(`PyTorch peer skipped: ${script} not found`);
    return null;
  }
  const r = spawnSync(PYTHON, [script, dataRoot, '1', 'cpu'], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(`PyTorch peer failed: ${r.stderr.trim().split('\n').at(-1)}`);
    return null;
  }
  const line = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  return { train: 60000 / line.train_s, eval: 10000 / line.eval_s };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const runtimes = values.runtimes!.split(',');
const torchOk = !values['no-torch'] && hasTorch();
const torchRoot = torchOk ? torchDataRoot() : '';
const results: Record<string, EpochFigures[]> = Object.fromEntries(runtimes.map((r) => [r, []]));
const torch: { train: number; eval: number }[] = [];
try {
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const runtime of round % 2 ? [...runtimes].reverse() : runtimes) {
      const figures = await epochOf(runtime, round);
      results[runtime].push(figures);
      console.error(`round ${round + 1} ${runtime}: ${figures.reported.toFixed(0)} images/s reported, ${figures.wall.toFixed(1)} s wall`);
    }
    if (torchOk) {
      const peer = torchEpoch(torchRoot);
      if (peer) torch.push(peer);
      if (peer) console.error(`round ${round + 1} PyTorch: ${peer.train.toFixed(0)} images/s, eval ${peer.eval.toFixed(0)}`);
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

const torchTrain = torch.length ? median(torch.map((t) => t.train)) : NaN;
const torchEval = torch.length ? median(torch.map((t) => t.eval)) : NaN;
console.log(`\nfull 60,000-image epoch, medians of ${values.rounds} rounds${torch.length ? '; PyTorch 2 threads in the same run' : ''}\n`);
console.log('| | epoch images/s (reported) | wall s | start-up s | ramp s | steady images/s | tail s | eval images/s | epoch vs PyTorch | eval vs PyTorch |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
const summary: Record<string, unknown> = {};
for (const runtime of runtimes) {
  const m = (key: keyof EpochFigures) => median(results[runtime].map((f) => f[key]));
  summary[runtime] = Object.fromEntries((['reported', 'wall', 'startup', 'ramp', 'steady', 'tail', 'eval'] as const).map((k) => [k, m(k)]));
  console.log(`| ${runtime} | ${m('reported').toFixed(0)} | ${m('wall').toFixed(1)} | ${m('startup').toFixed(1)} | ${m('ramp').toFixed(1)} | ` +
    `${m('steady').toFixed(0)} | ${m('tail').toFixed(1)} | ${m('eval').toFixed(0)} | ${(m('reported') / torchTrain).toFixed(2)}x | ` +
    `${(m('eval') / torchEval).toFixed(2)}x |`);
}
if (torch.length) console.log(`| PyTorch (seed program) | ${torchTrain.toFixed(0)} | | | | | | ${torchEval.toFixed(0)} | 1 | 1 |`);
if (values.json) writeFileSync(values.json, JSON.stringify({ rounds: results, summary, torch }, null, 2) + '\n');
