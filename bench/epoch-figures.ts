// One full `digit` epoch as a user runs it: the real CLI (`train --epochs 1 --no-test`, then `eval`)
// in a child process, every JSON event timestamped as it arrives, split into start-up (process start to
// kernels compiled), ramp (to the steady rate), the steady rate (images/s between 25 % and 90 % of the
// epoch) and the tail (the last progress event to the process's exit: final readback, checkpoint
// write, teardown); and the seed's PyTorch program (bench/seed_torch.py, the tutorial's own, 2 CPU threads) over
// the same epoch. Used by bench/epoch.ts (both runtimes, rounds) and bench/run.ts (its own runtime).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { MNIST_FILES } from '../src/data/mnist.ts';
import { PYTHON } from './pytorch.ts';

export type Runtime = 'node' | 'deno';

/** The project's root, from bench/ or build/bench/. */
export const projectRoot = resolve(
  import.meta.dirname ?? '.',
  '..',
  ...(import.meta.url.includes('/build/') ? ['..'] : []),
);

/** The command that runs the CLI under `runtime`, as a user would (dist/cli.js needs npm run build). */
export function cliCommand(runtime: Runtime): string[] {
  if (runtime === 'node') {
    const cli = join(projectRoot, 'dist', 'cli.js');
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
    return ['node', cli];
  }
  const local = join(projectRoot, 'node_modules', '.bin', 'deno');
  const deno = 'Deno' in globalThis
    ? (globalThis as unknown as { Deno: { execPath(): string } }).Deno.execPath()
    : existsSync(local)
    ? local
    : 'deno';
  return [deno, 'run', '-A', join(projectRoot, 'src', 'cli.ts')];
}

export interface Event {
  at: number;
  event: string;
  [key: string]: unknown;
}

/**
 * Runs `command`, timestamping every JSON line it prints on stdout (seconds since spawn; other lines,
 * such as a Python peer's warnings, are ignored); rejects with the last line of stderr if it fails.
 */
export function timedEvents(command: string[]): Promise<{ events: Event[]; exitAt: number }> {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(command[0], command.slice(1), { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    const events: Event[] = [];
    let pending = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      const at = (performance.now() - started) / 1000;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines.filter((l) => l.startsWith('{'))) events.push({ at, ...JSON.parse(line) });
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${command.join(' ')} exited ${code}: ${stderr}`));
      resolvePromise({ events, exitAt: (performance.now() - started) / 1000 });
    });
  });
}

/** Runs the CLI with --json, timestamping every event line (seconds since spawn). */
function timedRun(runtime: Runtime, args: string[], dataDir: string): Promise<{ events: Event[]; exitAt: number }> {
  return timedEvents([...cliCommand(runtime), ...args, '--data', dataDir, '--json']);
}

export interface EpochFigures {
  wall: number;
  reported: number;
  startup: number;
  ramp: number;
  steady: number;
  tail: number;
  eval: number;
}

/** Trains one epoch through the CLI (checkpoint under `scratch`), then evaluates it. */
export async function measureEpoch(
  runtime: Runtime,
  dataDir: string,
  scratch: string,
  round = 0,
  /** More options for both commands (e.g. --device-class). */
  extraArgs: readonly string[] = [],
): Promise<EpochFigures> {
  const out = join(scratch, `${runtime}-${round}.safetensors`);
  const { events, exitAt } = await timedRun(
    runtime,
    ['train', '--epochs', '1', '--no-test', '--out', out, ...extraArgs],
    dataDir,
  );
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
  const evaluated = await timedRun(runtime, ['eval', '--checkpoint', out, ...extraArgs], dataDir);
  const report = evaluated.events.find((e) => e.event === undefined || 'images_per_second' in e) as Event & {
    images_per_second: number;
  };
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
export function torchDataRoot(dataDir: string, scratch: string): string {
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

/** The seed's PyTorch program over one epoch and the test set (images/s), or null (reason on stderr). */
export function torchEpoch(dataRoot: string): { train: number; eval: number } | null {
  const script = resolve(projectRoot, 'bench', 'seed_torch.py');
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
