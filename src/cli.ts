#!/usr/bin/env node
// Command-line entry point, the same under Node (node dist/cli.js) and Deno (deno run -A src/cli.ts).
import process from 'node:process';
import { UsageError } from './cli/args.ts';
import { WriteTargetError } from './io/write-target.ts';
import { trainCommand } from './cli/train.ts';
import { evalCommand } from './cli/eval.ts';
import { predictCommand } from './cli/predict.ts';
import { showCommand } from './cli/show.ts';
import { BROKEN_PIPE_EXIT, installBrokenPipeGuard } from './cli/progress.ts';
import { reportCommand } from './cli/report.ts';
import { serveCommand } from './cli/serve.ts';
import { infoCommand } from './cli/info.ts';
import { importCommand } from './cli/import.ts';
import { exportCommand } from './cli/export.ts';
import { tuneCommand } from './cli/tune.ts';

const HELP =
  `webgpu-digits: train and run a convolutional network on MNIST (or Fashion-MNIST, KMNIST) with hand-written WebGPU kernels.

Usage: <command> [options]     (Node: node dist/cli.js <command>, Deno: deno task <command>)

Commands:
  train      train a model on MNIST and write checkpoints
  eval       evaluate a checkpoint on the test (or training) set
  predict    classify PNG images of handwritten digits
  show       write dataset images to PNG and print them in the terminal
  report     write an HTML report (curves, confusion heatmap, mistakes, filters) from a log and/or checkpoint
  serve      serve the browser page: draw a digit, the engine classifies it with WebGPU in the browser
  info       runtime, GPU adapters and driver, limits, where data, checkpoints and shader caches are
  import     turn a PyTorch state_dict (safetensors) into a checkpoint, checking every tensor
  export     write a checkpoint as ONNX (--format onnx)
  tune       time kernel tile configurations on this GPU and keep the fastest for train, eval and bench

Run <command> --help for its options.`;

const commands: Record<string, (argv: string[]) => Promise<number>> = {
  train: trainCommand,
  eval: evalCommand,
  predict: predictCommand,
  show: showCommand,
  report: reportCommand,
  serve: serveCommand,
  info: infoCommand,
  import: importCommand,
  export: exportCommand,
  tune: tuneCommand,
};

async function main(argv: string[]): Promise<number> {
  installBrokenPipeGuard();
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(HELP);
    return name ? 0 : 2;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    console.error(`Unknown command "${name}".\n\n${HELP}`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (err) {
    if (err instanceof UsageError || err instanceof WriteTargetError) {
      console.error(`${name}: ${err.message}\nRun \`${name} --help\` for the options.`);
      return 2;
    }
    const error = err as Error;
    console.error(`${name} failed: ${error.message}`);
    if (process.env.DEBUG) console.error(error.stack);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// An interrupted run exits explicitly: its signal handlers are still installed.
if (code === 130 || code === 143 || code === BROKEN_PIPE_EXIT) process.exit(code);
process.exitCode = code;
