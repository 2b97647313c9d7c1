// Training runs that go wrong on purpose, as child processes under the runtime running the tests:
// a fresh clone with no data/checkpoints, two runs on one --out, a reader that goes away, a second
// SIGTERM, a checkpoint that cannot be written mid-run, a diverging run, debris of killed runs.
// Each run is small (64-640 images, batches of 64, no test-set pass) to keep CI quick.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import process from 'node:process';
import { ADAM_DEFAULTS } from '../../src/kernels/adam.ts';
import { initParameters, ParameterLayout } from '../../src/nn/parameters.ts';
import { DIGIT, parameterSpecs } from '../../src/nn/spec.ts';
import { loadCheckpoint, optimizerPath, peekMetadata, saveCheckpoint } from '../../src/train/checkpoint.ts';
import { initialState } from '../../src/train/trainer.ts';
import { runCli, startCli, thisRuntime } from '../helpers/cli.ts';
import { testMnistDir } from '../helpers/mnist.ts';

const test = suite(`reliability: training runs that go wrong (${thisRuntime})`);
const dir = mkdtempSync(join(tmpdir(), 'train-runs-'));
const env = { MNIST_DIR: testMnistDir() };
const small = ['--epochs', '1', '--limit', '64', '--no-test'];

test('a fresh clone: the default --out (data/checkpoints/) is created; a batch above the image count is capped', async () => {
  const cwd = join(dir, 'clone');
  mkdirSync(cwd);
  const r = await runCli(['train', ...small, '--batch-size', '60000'], { env, cwd });
  assert.is(r.code, 0, r.stderr);
  const checkpoint = join(cwd, 'data', 'checkpoints', 'digit.safetensors');
  assert.is(loadCheckpoint(checkpoint, { withOptimizer: true }).metadata.step, '1', 'one batch of all 64 images');
  assert.match(r.stderr, 'batch size 60000 is more than the 64 training images: one batch per epoch');
});

test('a second run on the same --out is refused while the first runs; the first finishes', async () => {
  const out = join(dir, 'shared', 'digit.safetensors');
  let second: Promise<{ code: number | null; stderr: string }> | undefined;
  const first = startCli(['train', '--epochs', '1', '--limit', '640', '--no-test', '--json', '--out', out], {
    env,
    onStdout: (chunk) => {
      if (!second && chunk.includes('"event":"start"')) second = runCli(['train', ...small, '--out', out], { env });
    },
  });
  const a = await first.result;
  assert.is(a.code, 0, a.stderr);
  assert.ok(second, 'the second run was started');
  const b = await second!;
  assert.is(b.code, 1, b.stderr);
  assert.match(
    b.stderr,
    new RegExp(
      `digit\\.safetensors is being written by another training run \\(PID ${first.child.pid}, started .*Wait for it to finish or pass another --out`,
    ),
  );
  assert.is(loadCheckpoint(out).metadata.step, '10', "the first run's result is there");
  assert.not.ok(existsSync(`${out}.lock`), 'the lock is gone with its run');
});

test('a closed stdout (train --json | head -1) stops the run as SIGTERM does: checkpoint, exit 141', async () => {
  const out = join(dir, 'pipe', 'digit.safetensors');
  const r = await runCli(['train', '--epochs', '2', '--limit', '640', '--no-test', '--json', '--out', out], {
    env,
    closeStdoutAfter: /"event":"start"/,
  });
  assert.is(r.code, 141, `exit ${r.code} ${r.signal}: ${r.stderr}`);
  assert.match(
    r.stderr,
    /Output closed \(broken pipe\): stopped at epoch \d, batch \d+ \(step \d+\)\. Checkpoint written to .*Continue with `.*--resume`/,
  );
  const state = loadCheckpoint(out, { withOptimizer: true });
  assert.ok(
    Number(state.metadata.step) >= 1 && Number(state.metadata.step) < 20,
    `stopped at step ${state.metadata.step}`,
  );
});

test('a second SIGTERM exits at once with 143, naming SIGTERM (not Ctrl-C) and the last checkpoint', async () => {
  const out = join(dir, 'twice', 'digit.safetensors');
  // The second SIGTERM goes once the first is acknowledged (two quick ones may arrive as one).
  let again = false;
  const running = startCli([
    'train',
    '--epochs',
    '1',
    '--limit',
    '1280',
    '--no-test',
    '--checkpoint-every',
    '3',
    '--out',
    out,
  ], {
    env,
    onStderr: (chunk) => {
      if (!again && chunk.includes('SIGTERM: finishing')) {
        again = true;
        // process.kill: Deno's ChildProcess.kill sends nothing once the child counts as killed.
        process.kill(running.child.pid!, 'SIGTERM');
      }
    },
  });
  // After the first checkpoint, so that there is a last good one to name.
  for (let i = 0; i < 600 && !existsSync(out); i++) await new Promise((r) => setTimeout(r, 100));
  process.kill(running.child.pid!, 'SIGTERM');
  const r = await running.result;
  assert.is(r.code, 143, `exit ${r.code} ${r.signal}: ${r.stderr}`);
  assert.match(
    r.stderr,
    /SIGTERM: finishing the current step and writing a checkpoint \(send SIGTERM again to abort\)/,
  );
  assert.match(
    r.stderr,
    /SIGTERM again: exiting without writing a checkpoint\. The last good checkpoint is .*digit\.safetensors \(step \d+/,
    r.stderr,
  );
  assert.not.match(r.stderr, 'Ctrl-C');
  assert.not.ok(existsSync(`${out}.lock`), 'the lock is released on exit');
});

test('a checkpoint that cannot be written mid-run: the error says what, where, and which checkpoint is the last good one', async () => {
  const parent = join(dir, 'vanishing');
  const out = join(parent, 'run', 'digit.safetensors');
  let moved = false;
  const r = await runCli([
    'train',
    '--epochs',
    '1',
    '--limit',
    '640',
    '--no-test',
    '--json',
    '--checkpoint-every',
    '1',
    '--out',
    out,
  ], {
    env,
    onStdout: (chunk) => {
      // After the first checkpoint, a file takes the checkpoint directory's place.
      if (!moved && chunk.includes('"event":"checkpoint"')) {
        moved = true;
        renameSync(join(parent, 'run'), join(parent, 'moved'));
        writeFileSync(join(parent, 'run'), 'in the way');
      }
    },
  });
  assert.is(r.code, 1, r.stderr);
  const match =
    /Could not write the checkpoint of step (\d+) \(epoch 1, batch \d+\): cannot create directory .*run: .*run is a file\. The last good checkpoint is (.*) \(step (\d+), epoch 1, batch \d+\)\..*continue with `.*--resume`/
      .exec(r.stderr);
  assert.ok(match, r.stderr);
  assert.is(match![2], out);
  assert.is(Number(match![3]), Number(match![1]) - 1);
  assert.is(
    loadCheckpoint(join(parent, 'moved', 'digit.safetensors'), { withOptimizer: true }).metadata.step,
    match![3],
  );
});

test('a diverging run writes no checkpoint of non-finite weights (--lr 1e39 --checkpoint-every 1)', async () => {
  const out = join(dir, 'diverged', 'digit.safetensors');
  const r = await runCli([
    'train',
    '--epochs',
    '1',
    '--limit',
    '128',
    '--no-test',
    '--lr',
    '1e39',
    '--checkpoint-every',
    '1',
    '--out',
    out,
  ], { env });
  assert.is(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /Training diverged: at step 1 \(epoch 1, batch 1\) \w+\.\w+ holds NaN or Infinity, so no checkpoint was written for it\. No checkpoint of this run was written yet\. Try a smaller --lr/,
  );
  assert.not.ok(existsSync(out));
});

test('--overwrite starts over an unfinished run; stale lock, temp files and orphaned optimizer files are cleared', async () => {
  const sub = join(dir, 'debris');
  const out = join(sub, 'digit.safetensors');
  const layout = new ParameterLayout(parameterSpecs(DIGIT));
  const config = { model: DIGIT, epochs: 3, batchSize: 64, seed: 1, shuffle: true, adam: ADAM_DEFAULTS };
  await saveCheckpoint(out, {
    config,
    state: { ...initialState(initParameters(layout, 2)), batchInEpoch: 1, step: 1 },
    withOptimizer: true,
  });
  const dead = spawnSync(process.execPath, ['--version']).pid!;
  writeFileSync(`${out}.lock`, JSON.stringify({ pid: dead, host: hostname(), started: 'earlier', command: 'train' }));
  writeFileSync(join(sub, '.digit.safetensors.123.abc.tmp'), 'killed write');
  writeFileSync(join(sub, 'digit.adam.0123456789abcdef.safetensors'), 'orphan');
  const refused = await runCli(['train', ...small, '--out', out], { env });
  assert.is(refused.code, 2, refused.stderr);
  assert.match(
    refused.stderr,
    /holds an unfinished run \(epoch 1 of 3, step 1\)\. Continue it with `.*--resume`, or start a new run over it with --overwrite/,
  );
  const r = await runCli(['train', ...small, '--out', out, '--overwrite'], { env });
  assert.is(r.code, 0, r.stderr);
  assert.equal(readdirSync(sub).sort(), [basename(optimizerPath(out, peekMetadata(out))), 'digit.safetensors'].sort());
  assert.is(peekMetadata(out)!.epochs, '1');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
