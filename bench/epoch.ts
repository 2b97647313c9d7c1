// The epoch a user runs: one full 60,000-image `digit` epoch through the real CLI (`train --epochs 1
// --no-test`), under Node (node dist/cli.js) and Deno (deno run src/cli.ts), then `eval`, with the
// seed's PyTorch program (bench/seed_torch.py, 2 CPU threads) as the peer in the same run;
// the breakdown is bench/epoch-figures.ts's. Medians over --rounds (this VM's speed drifts).
//   node build/bench/epoch.js [--rounds 3] [--runtimes node,deno] [--no-torch] [--json FILE]   (needs npm run build)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { resolveDataDir } from '../src/data/mnist.ts';
import { hasTorch } from './pytorch.ts';
import { type EpochFigures, measureEpoch, type Runtime, torchDataRoot, torchEpoch } from './epoch-figures.ts';

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
const dataDir = resolveDataDir(values.data);
const scratch = mkdtempSync(join(tmpdir(), 'epoch-bench-'));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const runtimes = values.runtimes!.split(',') as Runtime[];
const torchOk = !values['no-torch'] && hasTorch();
const torchRoot = torchOk ? torchDataRoot(dataDir, scratch) : '';
const results: Record<string, EpochFigures[]> = Object.fromEntries(runtimes.map((r) => [r, []]));
const torch: { train: number; eval: number }[] = [];
try {
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const runtime of round % 2 ? [...runtimes].reverse() : runtimes) {
      const figures = await measureEpoch(runtime, dataDir, scratch, round);
      results[runtime].push(figures);
      console.error(
        `round ${round + 1} ${runtime}: ${figures.reported.toFixed(0)} images/s reported, ${
          figures.wall.toFixed(1)
        } s wall`,
      );
    }
    if (torchOk) {
      const peer = torchEpoch(torchRoot);
      if (peer) torch.push(peer);
      if (peer) {
        console.error(`round ${round + 1} PyTorch: ${peer.train.toFixed(0)} images/s, eval ${peer.eval.toFixed(0)}`);
      }
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

const torchTrain = torch.length ? median(torch.map((t) => t.train)) : NaN;
const torchEval = torch.length ? median(torch.map((t) => t.eval)) : NaN;
console.log(
  `\nfull 60,000-image epoch, medians of ${values.rounds} rounds${
    torch.length ? '; PyTorch 2 threads in the same run' : ''
  }\n`,
);
console.log(
  '| | epoch images/s (reported) | wall s | start-up s | ramp s | steady images/s | tail s | eval images/s | epoch vs PyTorch | eval vs PyTorch |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
const summary: Record<string, unknown> = {};
for (const runtime of runtimes) {
  const m = (key: keyof EpochFigures) => median(results[runtime].map((f) => f[key]));
  summary[runtime] = Object.fromEntries(
    (['reported', 'wall', 'startup', 'ramp', 'steady', 'tail', 'eval'] as const).map((k) => [k, m(k)]),
  );
  console.log(
    `| ${runtime} | ${m('reported').toFixed(0)} | ${m('wall').toFixed(1)} | ${m('startup').toFixed(1)} | ${
      m('ramp').toFixed(1)
    } | ` +
      `${m('steady').toFixed(0)} | ${m('tail').toFixed(1)} | ${m('eval').toFixed(0)} | ${
        (m('reported') / torchTrain).toFixed(2)
      }x | ` +
      `${(m('eval') / torchEval).toFixed(2)}x |`,
  );
}
if (torch.length) {
  console.log(`| PyTorch (seed program) | ${torchTrain.toFixed(0)} | | | | | | ${torchEval.toFixed(0)} | 1 | 1 |`);
}
if (values.json) writeFileSync(values.json, JSON.stringify({ rounds: results, summary, torch }, null, 2) + '\n');
