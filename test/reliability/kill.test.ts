// SIGKILL at random instants of checkpoint writes (--checkpoint-every 1), many times over: after
// every kill the checkpoint on disk is a consistent weights/optimizer pair of the uninterrupted
// run's trajectory, the next `--resume` starts from it, and the run ends bit-identical to an
// uninterrupted one, with no temporary files, orphaned optimizer files or lock left behind.
//
// Kill instants come from file-system events in the checkpoint's directory (each temp-file
// creation, write, rename and removal of a save is one), so they fall inside the write protocol:
// the kill comes a random 0-25 ms after a random one of them. The seed is printed;
// KILL_TEST_SEED=<seed> replays the same choices, KILL_TEST_KILLS=<n> sets the number of kills.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import process from 'node:process';
import { loadCheckpoint, optimizerPath, peekMetadata } from '../../src/train/checkpoint.ts';
import { Rng } from '../../src/util/random.ts';
import { startCli, thisRuntime } from '../helpers/cli.ts';
import { testMnistDir } from '../helpers/mnist.ts';

const test = suite(`reliability: SIGKILL during checkpoint writes (${thisRuntime})`);
const dir = mkdtempSync(join(tmpdir(), 'kill-'));
const env = { MNIST_DIR: testMnistDir() };
const KILLS = Number(process.env.KILL_TEST_KILLS ?? 15);
const SEED = process.env.KILL_TEST_SEED ? Number(process.env.KILL_TEST_SEED) : Math.floor(Math.random() * 2 ** 31);
// 192 images, batches of 64: 3 steps an epoch, 2 epochs, a checkpoint after every step.
const base = [
  'train',
  '--limit',
  '192',
  '--epochs',
  '2',
  '--no-test',
  '--seed',
  '5',
  '--json',
  '--checkpoint-every',
  '1',
];

/** The pair's identity: the weights' data digest and the optimizer file's SHA-256. */
const identity = (metadata: Record<string, string>) => `${metadata.tensors_sha256}/${metadata.optimizer_sha256}`;

test(`${KILLS} SIGKILLs at random instants of checkpoint writes; every --resume continues, the end is bit-identical`, async () => {
  console.log(`\n    kill test under ${thisRuntime}: seed ${SEED} (KILL_TEST_SEED=${SEED} replays it), ${KILLS} kills`);
  // The uninterrupted run, and the pair it had on disk after each step (read at each checkpoint event).
  const refOut = join(dir, 'reference', 'digit.safetensors');
  const trajectory = new Map<string, string>();
  const record = () => {
    const m = peekMetadata(refOut);
    if (m) trajectory.set(m.step, identity(m));
  };
  const reference = await startCli([...base, '--out', refOut], {
    env,
    onStdout: (chunk) => /"event":"(checkpoint|epoch)"/.test(chunk) && record(),
  }).result;
  assert.is(reference.code, 0, reference.stderr);
  record();
  const refMeta = peekMetadata(refOut)!;
  const refWeights = readFileSync(refOut);
  const refAdam = readFileSync(optimizerPath(refOut, refMeta));
  assert.is(refMeta.step, '6');

  const out = join(dir, 'killed', 'digit.safetensors');
  mkdirSync(dirname(out), { recursive: true });
  const rng = new Rng(SEED);
  let kills = 0;
  let runs = 0;
  let completed = 0;
  let lastKilled = false;
  while (kills < KILLS || lastKilled) {
    runs++;
    assert.ok(runs <= 4 * KILLS + 4, `${runs} runs for ${kills} kills: the kill points are not reached`);
    const resume = existsSync(out);
    const events = 1 + rng.int(40);
    const delayMs = rng.int(26);
    const kill = kills < KILLS;
    const running = startCli([...base, '--out', out, ...(resume ? ['--resume'] : [])], { env, timeoutMs: 300_000 });
    let seen = 0;
    const watcher = watch(dirname(out), (_event, name) => {
      // Only the checkpoint's own files count (not the lock's), so kills land in checkpoint writes.
      if (kill && !/\.lock(\.|$)/.test(String(name)) && ++seen === events) {
        setTimeout(() => running.child.kill('SIGKILL'), delayMs);
      }
    });
    const r = await running.result;
    watcher.close();
    lastKilled = r.signal === 'SIGKILL' || r.code === 137;
    if (lastKilled) {
      kills++;
      const state = existsSync(out) ? loadCheckpoint(out, { withOptimizer: true }) : undefined;
      console.log(
        `    kill ${kills}: run ${runs}${resume ? ' (--resume)' : ''}, ${delayMs} ms after file event ${events}: ` +
          (state ? `checkpoint of step ${state.metadata.step} intact` : 'no checkpoint yet'),
      );
      if (state) {
        const expected = trajectory.get(state.metadata.step);
        if (expected) {
          assert.is(identity(state.metadata), expected, `step ${state.metadata.step} as the uninterrupted run had it`);
        }
      }
      continue;
    }
    // Not killed (the run ended before its kill point, or this is the last run): it must succeed.
    assert.is(r.code, 0, `run ${runs}${resume ? ' (--resume)' : ''} exited ${r.code} ${r.signal}: ${r.stderr}`);
    assert.ok(readFileSync(out).equals(refWeights), `run ${runs}: weights bit-identical to the uninterrupted run`);
    const meta = peekMetadata(out)!;
    assert.ok(readFileSync(optimizerPath(out, meta)).equals(refAdam), `run ${runs}: optimizer state bit-identical`);
    completed++;
    console.log(
      `    run ${runs}${resume ? ' (--resume)' : ''} ${
        kill ? `ended before file event ${events}` : 'ran to the end'
      }: bit-identical to the uninterrupted run`,
    );
    // Start the next chain of kills from scratch.
    // Emptied, not recreated: Deno's watcher stays blind to a directory deleted and made anew.
    if (kills < KILLS) {
      for (const name of readdirSync(dirname(out))) rmSync(join(dirname(out), name), { force: true });
    }
  }
  const left = readdirSync(dirname(out)).sort();
  assert.equal(
    left,
    [basename(optimizerPath(out, peekMetadata(out))), 'digit.safetensors'].sort(),
    'no temporary files, orphaned optimizer files or lock left',
  );
  console.log(
    `    ${kills} kills in ${runs} runs under ${thisRuntime}, ${completed} runs to the end, all bit-identical`,
  );
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
