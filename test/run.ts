// Runs every uvu suite (test/**/*.test.ts) in one process, on whichever runtime runs this file:
//   deno run -A test/run.ts [filter...]      node build/test/run.js [filter...]
// Ends with "<runtime>: N passed, N failed, N skipped"; with TEST_SUMMARY_FILE set, also writes the
// counts there as JSON so .ci/run can add up both runtimes. A test that calls skip() (helpers/skip.ts)
// returns early and uvu counts it as passed: it is moved from passed to skipped here.
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, extname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import process from 'node:process';

type SuiteResult = [errors: string | true, passed: number, skipped: number, total: number];
type QueuedSuite = () => Promise<SuiteResult>;
const g = globalThis as unknown as {
  UVU_DEFER: number;
  UVU_INDEX: number;
  UVU_QUEUE: [string | null, ...QueuedSuite[]][];
};
g.UVU_DEFER = 1;
g.UVU_QUEUE = [];

const here = dirname(fileURLToPath(import.meta.url));
const ext = extname(fileURLToPath(import.meta.url)); // .ts under Deno, .js from build/
const filters = process.argv.slice(2);

function findSuites(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findSuites(path));
    else if (name.endsWith(`.test${ext}`)) out.push(path);
  }
  return out;
}

const files = findSuites(here).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
const { exec } = await import('uvu');
for (const [index, file] of files.entries()) {
  g.UVU_INDEX = index;
  g.UVU_QUEUE.push([relative(here, file)]);
  await import(pathToFileURL(file).href);
}

let passed = 0;
let failed = 0;
let uvuSkipped = 0;
for (const group of g.UVU_QUEUE) {
  for (let i = 1; i < group.length; i++) {
    const run = group[i] as QueuedSuite;
    group[i] = async () => {
      const result = await run();
      passed += result[1];
      failed += result[3] - result[1];
      uvuSkipped += result[2];
      return result;
    };
  }
}
await exec();

const { closeSharedGpu } = await import(`./helpers/gpu${ext}`);
await closeSharedGpu();

const { skipReasons } = await import(`./helpers/skip${ext}`);
const reasons: readonly string[] = skipReasons();
passed -= reasons.length;
const skipped = reasons.length + uvuSkipped;

const runtimeName = 'Deno' in globalThis ? 'deno' : 'node';
if (reasons.length > 0) console.log(`\n${runtimeName}: skipped tests\n${reasons.map((r) => `  - ${r}`).join('\n')}`);
console.log(`${runtimeName}: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (process.env.TEST_SUMMARY_FILE) {
  writeFileSync(
    process.env.TEST_SUMMARY_FILE,
    JSON.stringify({ runtime: runtimeName, passed, failed, skipped }) + '\n',
  );
}
process.exitCode = failed > 0 || files.length === 0 ? 1 : 0;
