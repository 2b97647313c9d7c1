// Every command that writes a file goes through the same checks before any work: the target is a
// regular file or absent (a FIFO, device or directory is refused by name and stays what it was), an
// existing file is replaced only with --overwrite, never the command's own input, never a path a
// running training run holds; and readers refuse FIFOs, devices and /proc files instead of hanging.
// None of these runs touches the GPU: each is refused (or done) in seconds.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { encodeSafetensors } from '../../src/io/safetensors.ts';
import { ADAM_DEFAULTS } from '../../src/kernels/adam.ts';
import { initParameters, ParameterLayout } from '../../src/nn/parameters.ts';
import { DIGIT, parameterSpecs } from '../../src/nn/spec.ts';
import { optimizerPath, peekMetadata, saveCheckpoint } from '../../src/train/checkpoint.ts';
import { CheckpointLock } from '../../src/train/lock.ts';
import { initialState, type TrainConfig } from '../../src/train/trainer.ts';
import { cliCommand, runCli, thisRuntime } from '../helpers/cli.ts';
import { testMnistDir } from '../helpers/mnist.ts';
import { skip } from '../helpers/skip.ts';

const test = suite(`reliability: write targets (${thisRuntime})`);
const dir = mkdtempSync(join(tmpdir(), 'write-targets-'));
const env = { MNIST_DIR: testMnistDir() };
const layout = new ParameterLayout(parameterSpecs(DIGIT));
const config: TrainConfig = { model: DIGIT, epochs: 2, batchSize: 64, seed: 1, shuffle: true, adam: ADAM_DEFAULTS };
const checkpoint = join(dir, 'digit.safetensors');
const unfinished = join(dir, 'unfinished', 'digit.safetensors');
const isRoot = process.getuid?.() === 0;

/** A digit checkpoint of a run stopped at epoch 1, batch 3 of 2 epochs (at --limit 640: 10 batches each). */
async function saveUnfinished(path: string, seed = 1): Promise<void> {
  const state = { ...initialState(initParameters(layout, seed)), batchInEpoch: 3, step: 3 };
  await saveCheckpoint(path, { config, state, withOptimizer: true, run: { limit: '640' } });
}

test.before(async () => {
  await saveCheckpoint(checkpoint, {
    config: { ...config, epochs: 1 },
    state: { ...initialState(initParameters(layout, 1)), epoch: 1 },
    withOptimizer: true,
  });
  await saveUnfinished(unfinished);
});

function mkfifo(path: string): void {
  const r = spawnSync('mkfifo', [path]);
  assert.is(r.status, 0, `mkfifo ${path}: ${r.stderr}`);
}

const kind = (path: string) => {
  const s = lstatSync(path);
  return s.isFIFO() ? 'fifo' : s.isCharacterDevice() ? 'char' : s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other';
};

async function refusedFast(
  args: string[],
  code: number,
  pattern: RegExp | string,
  extraEnv: Record<string, string> = {},
) {
  const started = Date.now();
  const r = await runCli(args, { env: { ...env, ...extraEnv }, timeoutMs: 20_000 });
  assert.is(r.code, code, `${args.join(' ')}: exit ${r.code} ${r.signal}\n${r.stderr}`);
  assert.match(r.stderr, pattern);
  assert.ok(Date.now() - started < 5_000 + 10_000, /* start-up of a loaded machine */ `refused within seconds`);
  return r;
}

// Finding 1 (and 13): a FIFO or a device given as an output is refused before any work, and stays one.
test('finding 1: export --out, train --log, tune --tune-cache, report --out refuse a FIFO and a character device; both stay what they were', async () => {
  const fifo = join(dir, 'out.fifo');
  mkfifo(fifo);
  const targets: [string, string][] = [[fifo, 'fifo']];
  if (isRoot) {
    const device = join(dir, 'null-device');
    assert.is(spawnSync('mknod', [device, 'c', '1', '3']).status, 0, 'mknod as root');
    targets.push([device, 'char']);
  }
  for (const [target, was] of targets) {
    const what = was === 'fifo' ? 'a named pipe' : 'a character device';
    await refusedFast(
      ['export', '--format', 'onnx', '--checkpoint', checkpoint, '--out', target],
      2,
      `--out ${target} is ${what}`,
    );
    await refusedFast(
      ['train', '--log', target, '--out', join(dir, 'never', 'digit.safetensors')],
      2,
      `--log ${target} is ${what}`,
    );
    await refusedFast(['tune', '--tune-cache', target], 2, `the tune cache ${target} is ${what}`);
    await refusedFast(['report', '--checkpoint', checkpoint, '--out', target], 2, `--out ${target} is ${what}`);
    assert.is(kind(target), was, `${target} is still ${what}`);
  }
  assert.not.ok(existsSync(join(dir, 'never')), 'train refused before creating --out');
});

// The /dev paths themselves, in a private mount namespace whose /dev is a scratch tmpfs: nothing the
// test does reaches the machine's /dev, whatever the outcome.
const canUnshare = process.platform === 'linux' && isRoot && spawnSync('unshare', ['-m', 'true']).status === 0;
test('finding 1: export --out /dev/stdout and /dev/full, train --log /dev/stdout, tune --tune-cache /dev/null leave /dev as it was', () => {
  if (!canUnshare) {
    return skip('the /dev test mounts a tmpfs on /dev: it needs root and unshare', { requiredInCi: true });
  }
  const cli = cliCommand(thisRuntime).map((a) => `'${a}'`).join(' ');
  const devices = 'mknod -m 666 /dev/null c 1 3 && mknod -m 666 /dev/full c 1 7 && mknod -m 666 /dev/zero c 1 5 && ' +
    'mknod -m 666 /dev/urandom c 1 9 && mknod -m 666 /dev/random c 1 8 && ln -s /proc/self/fd /dev/fd && ' +
    'ln -s /proc/self/fd/1 /dev/stdout && ln -s /proc/self/fd/2 /dev/stderr';
  const runs = [
    `export --format onnx --checkpoint '${checkpoint}' --out /dev/stdout`,
    `export --format onnx --checkpoint '${checkpoint}' --out /dev/full`,
    `train --log /dev/stdout --out '${join(dir, 'never2', 'digit.safetensors')}'`,
    `tune --tune-cache /dev/null`,
  ].map((args) => `(${cli} ${args} | wc -c; echo "exit \${PIPESTATUS[0]}")`);
  const script =
    `mount -t tmpfs tmpfs /dev && ${devices} && ${runs.join(' && ')} && stat -L -c '%F' /dev/full /dev/null && ` +
    `stat -c '%F' /dev/stdout`;
  const r = spawnSync('unshare', ['-m', 'bash', '-c', script], {
    encoding: 'utf8',
    env: { ...process.env, ...env, NO_COLOR: '1' },
    timeout: 120_000,
  });
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(
    lines.filter((l) => l.startsWith('exit')),
    ['exit 2', 'exit 2', 'exit 2', 'exit 2'],
    r.stdout + r.stderr,
  );
  assert.equal(lines.slice(-3), ['character special file', 'character special file', 'symbolic link'], r.stdout);
});

test('finding 2: export --out equal to --checkpoint is refused and the checkpoint is unchanged; an existing --out needs --overwrite', async () => {
  const before = readFileSync(checkpoint);
  await refusedFast(
    ['export', '--format', 'onnx', '--checkpoint', checkpoint, '--out', checkpoint],
    2,
    'is the checkpoint to export',
  );
  const hardLink = join(dir, 'hard-link.safetensors');
  linkSync(checkpoint, hardLink);
  await refusedFast(
    ['export', '--format', 'onnx', '--checkpoint', checkpoint, '--out', hardLink],
    2,
    'is the checkpoint to export',
  );
  assert.equal(readFileSync(checkpoint), before, 'the checkpoint is unchanged');
  const onnx = join(dir, 'digit.onnx');
  writeFileSync(onnx, 'precious');
  await refusedFast(
    ['export', '--format', 'onnx', '--checkpoint', checkpoint, '--out', onnx],
    2,
    `--out ${onnx} exists; pass --overwrite`,
  );
  assert.is(readFileSync(onnx, 'utf8'), 'precious');
  const r = await runCli(['export', '--format', 'onnx', '--checkpoint', checkpoint, '--out', onnx, '--overwrite'], {
    env,
  });
  assert.is(r.code, 0, r.stderr);
  assert.ok(statSync(onnx).size > 1000, 'written with --overwrite');
});

test('finding 3: import --overwrite onto the --out of a running run is refused; the run keeps its files', async () => {
  const out = join(dir, 'running', 'digit.safetensors');
  await saveUnfinished(out);
  const optimizer = optimizerPath(out, peekMetadata(out));
  const before = readFileSync(out);
  const stateDict = join(dir, 'state-dict.safetensors');
  const params = layout.split(initParameters(layout, 5));
  writeFileSync(
    stateDict,
    encodeSafetensors(
      Object.fromEntries(layout.slots.map((s) => [s.name, { shape: s.shape, data: params.get(s.name)! }])),
    ),
  );
  // This process stands for the running run: it holds the lock, and it is alive.
  const lock = CheckpointLock.acquire(out);
  try {
    await refusedFast(['import', stateDict, '--out', out, '--overwrite'], 2, /is in use by a training run \(PID \d+/);
  } finally {
    lock.release();
  }
  assert.equal(readFileSync(out), before);
  assert.ok(existsSync(optimizer), "the run's optimizer file is still there");
  const done = await runCli(['import', stateDict, '--out', out, '--overwrite'], { env });
  assert.is(done.code, 0, `once the run is gone, --overwrite replaces it: ${done.stderr}`);
});

test('finding 4: train --resume-from A --out B does not replace an unfinished run in B without --overwrite', async () => {
  const a = join(dir, 'resume-a', 'digit.safetensors');
  const b = join(dir, 'resume-b', 'digit.safetensors');
  await saveUnfinished(a, 1);
  await saveUnfinished(b, 2);
  const before = readFileSync(b);
  await refusedFast(
    ['train', '--resume-from', a, '--out', b, '--epochs', '2', '--limit', '640', '--no-test'],
    2,
    /resume-b\/digit\.safetensors holds an unfinished run \(epoch 1 of 2, step 3\)\. Keep it: continue it with --resume --out/,
  );
  assert.equal(readFileSync(b), before, 'B is unchanged');
  await refusedFast(
    ['train', '--resume', '--overwrite', '--out', b],
    2,
    '--overwrite starts a new run; it cannot go with --resume',
  );
});

test('finding 5: train --log equal to --out (or its lock) is refused before the run starts', async () => {
  const out = join(dir, 'same', 'digit.safetensors');
  await refusedFast(['train', '--log', out, '--out', out, '--limit', '64'], 2, `--log ${out} is the checkpoint --out`);
  await refusedFast(['train', '--log', `${out}.lock`, '--out', out, '--limit', '64'], 2, "is the checkpoint's lock");
  assert.not.ok(existsSync(out));
  // An existing file that is not a log is not replaced by a new run's log without --overwrite.
  const notes = join(dir, 'notes.jsonl');
  writeFileSync(notes, 'my notes\n');
  await refusedFast(
    ['train', '--log', notes, '--out', out, '--limit', '64'],
    2,
    `--log ${notes} exists; pass --overwrite`,
  );
  assert.is(readFileSync(notes, 'utf8'), 'my notes\n');
});

test('finding 13: report --log FIFO or /dev/zero, train --resume --log FIFO, tune --tune-cache FIFO are refused within seconds', async () => {
  const fifo = join(dir, 'log.fifo');
  mkfifo(fifo);
  await refusedFast(['report', '--log', fifo], 1, `Log ${fifo} is a named pipe, not a file`);
  await refusedFast(['report', '--log', '/dev/zero'], 1, 'Log /dev/zero is a character device, not a file');
  await refusedFast(['report', '--log', '/proc/self/status'], 1, 'is a file of the kernel');
  await refusedFast(
    ['train', '--resume', '--out', unfinished, '--log', fifo, '--epochs', '2', '--limit', '640'],
    2,
    `--log ${fifo} is a named pipe`,
  );
  await refusedFast(
    ['train', '--tune', '--tune-cache', fifo, '--out', join(dir, 'never3.safetensors')],
    2,
    `the tune cache ${fifo} is a named pipe`,
  );
  assert.is(kind(fifo), 'fifo');
  assert.not.ok(existsSync(`${unfinished}.lock`), 'no lock left behind');
});

test('finding 13: tune refuses a cache it could never write (a directory, a file as XDG_CACHE_HOME, /proc) before tuning', async () => {
  await refusedFast(['tune', '--tune-cache', dir], 2, `the tune cache ${dir} is a directory`);
  const file = join(dir, 'a-file');
  writeFileSync(file, '');
  await refusedFast(['tune'], 1, /cannot create directory .*a-file\/webgpu-digits: .*a-file is a file/, {
    XDG_CACHE_HOME: file,
    WEBGPU_DIGITS_TUNE_CACHE: '',
  });
  await refusedFast(
    ['tune'],
    1,
    /cannot create directory \/proc\/webgpu-digits: \/proc does not accept new directories/,
    {
      XDG_CACHE_HOME: '/proc',
      WEBGPU_DIGITS_TUNE_CACHE: '',
    },
  );
  assert.not.ok(readdirSync(dir).some((n) => n.endsWith('.tmp')), 'no temporary file left');
});

test('also: a killed export leaves a temporary file that the next write to the same place removes', async () => {
  const out = join(dir, 'temps', 'digit.onnx');
  mkdirSync(join(dir, 'temps'));
  // A PID that is surely gone: a child that has exited.
  const gone = spawnSync('true').pid!;
  const stale = join(dir, 'temps', `.digit.onnx.${gone}.abc123.tmp`);
  writeFileSync(stale, new Uint8Array(4096));
  const r = await runCli(['export', '--format', 'onnx', '--checkpoint', checkpoint, '--out', out], { env });
  assert.is(r.code, 0, r.stderr);
  assert.equal(readdirSync(join(dir, 'temps')), ['digit.onnx']);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
