// Interruptions provoked for real on a child process: Ctrl-C / SIGTERM write a checkpoint that the
// printed command resumes bit-identically (SIGKILL during checkpoint writes: kill.test.ts).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { loadCheckpoint, optimizerPath, peekMetadata } from '../../src/train/checkpoint.ts';
import { runCli } from '../helpers/cli.ts';
import { repoRoot, testMnistDir } from '../helpers/mnist.ts';

const test = suite('reliability: interruptions');
const dir = mkdtempSync(join(tmpdir(), 'interrupt-'));
const env = { MNIST_DIR: testMnistDir() };
// 1280 images = 20 steps per epoch; two epochs; no test-set pass, to stay quick.
const base = ['train', '--limit', '1280', '--epochs', '2', '--no-test', '--seed', '11', '--json'];

let reference: { weights: Buffer; adam: Buffer } | undefined;
async function uninterrupted() {
  if (!reference) {
    const out = join(dir, 'reference', 'digit.safetensors'); // same name: the weights name their optimizer file
    const r = await runCli([...base, '--out', out], { env });
    assert.is(r.code, 0, r.stderr);
    reference = { weights: readFileSync(out), adam: readFileSync(optimizerPath(out, peekMetadata(out))) };
  }
  return reference;
}

/** Runs a command line as printed for the user, through the shell, from the repository root. */
function runPrinted(commandLine: string): { status: number | null; stderr: string } {
  const r = spawnSync('sh', ['-c', commandLine], {
    cwd: repoRoot(),
    encoding: 'utf8',
    env: { ...process.env, ...env, NO_COLOR: '1' },
  });
  return { status: r.status, stderr: r.stderr };
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} mid-epoch: checkpoint written, exit non-zero; the printed command resumes it bit-identically`, async () => {
    const out = join(dir, `${signal} run`, 'digit.safetensors');
    // The first progress line comes after the first stats readback (16 steps): interrupt then.
    const stopped = await runCli([...base, '--out', out], {
      env,
      signalAfter: { pattern: /"event":"progress"/, signal },
    });
    assert.is(stopped.code, signal === 'SIGINT' ? 130 : 143, `exit code ${stopped.code}: ${stopped.stderr}`);
    const interruptedAt = loadCheckpoint(out, { withOptimizer: true });
    assert.ok(Number(interruptedAt.metadata.step) < 40, 'stopped before the end');

    // The same command again without --resume would overwrite the unfinished run: refused.
    const again = await runCli([...base, '--out', out], { env });
    assert.is(again.code, 2, again.stderr);
    assert.match(
      again.stderr,
      /holds an unfinished run \(epoch \d of 2, step \d+\)\. Continue it with `.*--resume`, or start a new run over it with --overwrite/,
    );
    // Another --limit would train on other data: refused, as another seed is.
    const otherLimit = await runCli([...base.map((a) => (a === '1280' ? '640' : a)), '--out', out, '--resume'], {
      env,
    });
    assert.is(otherLimit.code, 2, otherLimit.stderr);
    assert.match(otherLimit.stderr, /was trained with limit=1280; pass the same settings \(--limit\) to resume it/);

    // The hint names this runtime, the script, every option and the quoted path: run it as printed.
    const hint = /Continue with `([^`]+)`/.exec(stopped.stderr)?.[1];
    assert.ok(hint, `a resume command in: ${stopped.stderr}`);
    assert.match(hint!, `'${out}'`);
    assert.match(hint!, /--resume$/);
    const resumed = runPrinted(hint!);
    assert.is(resumed.status, 0, `${hint}: ${resumed.stderr}`);
    const ref = await uninterrupted();
    assert.ok(readFileSync(out).equals(ref.weights), 'weights file identical to the uninterrupted run');
    assert.ok(
      readFileSync(optimizerPath(out, peekMetadata(out))).equals(ref.adam),
      'optimizer file identical to the uninterrupted run',
    );
  });
}

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
