// The README's quick start, as a new user runs it: its command lines are read from README.md and run
// as written, one by one, in a fresh copy of the repository (tracked files only: no node_modules,
// dist/ or data/checkpoints/), under the runtime each line names. Training is shortened to one epoch,
// the only change. A line this test does not know fails it, and so does a line that goes missing, so
// README and test change together. Slow (npm ci, an epoch under Deno): runs with E2E=1, from the Node
// pass only, since the lines themselves choose their runtimes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { driverNoise, thisRuntime } from '../helpers/cli.ts';
import { repoRoot, testMnistDir } from '../helpers/mnist.ts';

const test = suite('e2e: the README quick start on a fresh copy');

/** The command lines of the README's first ```sh block, comments stripped. */
function quickStartLines(readme: string): string[] {
  const block = /```sh\n([\s\S]*?)```/.exec(readme);
  if (!block) throw new Error('README.md has no ```sh block (the quick start)');
  return block[1].split('\n').map((line) => line.replace(/\s+#.*$/, '').trim()).filter(Boolean);
}

interface Step {
  /** What a known line looks like. */
  pattern: RegExp;
  /** Appended to the line: only flags that shorten the run. */
  shorten?: string;
  timeoutMs: number;
  check(result: Result, dir: string, seen: Map<string, Result>): void;
}

interface Result {
  line: string;
  code: number | null;
  stdout: string;
  stderr: string;
}

const accuracyOf = (stdout: string): string => /^accuracy\s+([\d.]+%) \((\d+)\/10000\)/m.exec(stdout)?.[0] ?? '';

const STEPS: Record<string, Step> = {
  install: {
    pattern: /^npm ci && npm run build$/,
    timeoutMs: 10 * 60_000,
    check: (_, dir) => assert.ok(existsSync(join(dir, 'dist', 'cli.js')), 'npm run build wrote dist/cli.js'),
  },
  info: {
    pattern: /^node dist\/cli\.js info$/,
    timeoutMs: 2 * 60_000,
    check: (r) => {
      assert.match(r.stdout, /^adapter\s+\S/m);
      assert.match(r.stdout, /train: verified \(60000 images\)/);
      assert.match(r.stdout, /test: verified \(10000 images\)/);
      assert.match(r.stdout, /digit\.safetensors \(not yet written/);
    },
  },
  train: {
    pattern: /^npx deno task train$/,
    shorten: '--epochs 1',
    timeoutMs: 30 * 60_000,
    check: (r, dir) => {
      assert.ok(existsSync(join(dir, 'data', 'checkpoints', 'digit.safetensors')), 'checkpoint at the default path');
      assert.match(r.stderr, /^compiled \d+ kernels in [\d.]+ s$/m);
      const accuracy = /^epoch 1\/1 .*test acc ([\d.]+)%/m.exec(r.stderr);
      assert.ok(accuracy && Number(accuracy[1]) >= 97, `one epoch reaches 97% test accuracy: ${accuracy?.[0]}`);
    },
  },
  evalNode: {
    pattern: /^node dist\/cli\.js eval$/,
    timeoutMs: 5 * 60_000,
    check: (r) => assert.match(accuracyOf(r.stdout), /^accuracy/, r.stdout),
  },
  evalDeno: {
    pattern: /^npx deno task eval$/,
    timeoutMs: 5 * 60_000,
    check: (r, _, seen) => {
      const node = [...seen.values()].find((s) => STEPS.evalNode.pattern.test(s.line));
      assert.ok(node, 'node dist/cli.js eval ran first');
      assert.is(accuracyOf(r.stdout), accuracyOf(node!.stdout), 'both runtimes find the same accuracy');
    },
  },
  show: {
    pattern: /^npx deno task show --split test --index 0 --out-dir (\S+)$/,
    timeoutMs: 2 * 60_000,
    check: (r, dir) => {
      const outDir = STEPS.show.pattern.exec(r.line)![1];
      assert.ok(existsSync(join(dir, outDir, 'test-0-label7.png')), `show wrote ${outDir}/test-0-label7.png`);
    },
  },
  predict: {
    pattern: /^node dist\/cli\.js predict (\S+label(\d)\.png)$/,
    timeoutMs: 2 * 60_000,
    check: (r) => {
      const [, file, label] = STEPS.predict.pattern.exec(r.line)!;
      assert.match(r.stdout, new RegExp(`^${file.replace(/[.]/g, '\\.')}: ${label} \\(`, 'm'), r.stdout);
    },
  },
};

/** `npm test` runs this very suite: it is covered by CI itself, not run again from here. */
const NOT_RUN = /^npm test$/;

/** The repository's files as a clone has them (tracked, plus new files not ignored), copied to `dir`. */
function copyRepository(dir: string): void {
  const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: repoRoot(),
    encoding: 'utf8',
  });
  if (listed.status !== 0) throw new Error(`git ls-files failed: ${listed.stderr}`);
  for (const file of listed.stdout.split('\0').filter(Boolean)) {
    if (!existsSync(join(repoRoot(), file))) continue; // deleted in the working tree
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    copyFileSync(join(repoRoot(), file), join(dir, file));
  }
}

function runLine(line: string, cwd: string, timeoutMs: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, MNIST_DIR: testMnistDir(), NO_COLOR: '1' };
    delete env.TEST_SUMMARY_FILE;
    // Node hands a child a socket for 'pipe'; a shell hands it a pipe, which is what a user's commands
    // write to (see src/gpu/quiet-stderr.ts): so the line's stderr goes through one.
    const child = spawn('bash', ['-c', `{ ${line}\n} 2> >(cat >&2)`], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ line, code, stdout, stderr });
    });
  });
}

test('README quick start: lines parsed, every line known', () => {
  const lines = quickStartLines(readFileSync(join(repoRoot(), 'README.md'), 'utf8'));
  for (const line of lines) {
    const known = NOT_RUN.test(line) || Object.values(STEPS).some((step) => step.pattern.test(line));
    assert.ok(
      known,
      `README quick start line "${line}" is not known to test/e2e/readme.test.ts: teach it what to assert`,
    );
  }
  for (const [name, step] of Object.entries(STEPS)) {
    assert.ok(
      lines.some((line) => step.pattern.test(line)),
      `the README quick start no longer has its ${name} line (${step.pattern})`,
    );
  }
});

if (process.env.E2E === '1' && thisRuntime === 'node') {
  test('README quick start: each line, as written, on a fresh copy with no data/checkpoints/', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'readme-'));
    try {
      copyRepository(dir);
      assert.not.ok(existsSync(join(dir, 'data', 'checkpoints')), 'the copy starts without data/checkpoints/');
      const seen = new Map<string, Result>();
      for (const line of quickStartLines(readFileSync(join(dir, 'README.md'), 'utf8'))) {
        if (NOT_RUN.test(line)) continue;
        const step = Object.values(STEPS).find((s) => s.pattern.test(line))!;
        const started = performance.now();
        const result = await runLine(step.shorten ? `${line} ${step.shorten}` : line, dir, step.timeoutMs);
        result.line = line;
        console.log(
          `    ${line}${step.shorten ? ` ${step.shorten}` : ''}: exit ${result.code}, ${
            ((performance.now() - started) / 1000).toFixed(1)
          } s`,
        );
        assert.is(result.code, 0, `${line}\n${result.stderr.slice(-3000)}`);
        assert.equal(driverNoise(result.stderr), [], `${line}: driver lines on stderr`);
        step.check(result, dir, seen);
        seen.set(line, result);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
