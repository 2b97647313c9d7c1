// Runs the command-line tool as a child process under this runtime or the other one.
import { type ChildProcess, spawn } from 'node:child_process';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import process from 'node:process';
import { repoRoot } from './mnist.ts';

export type RuntimeName = 'node' | 'deno';
export const thisRuntime: RuntimeName = 'Deno' in globalThis ? 'deno' : 'node';
export const otherRuntime: RuntimeName = thisRuntime === 'node' ? 'deno' : 'node';

export interface CliResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** argv prefix that runs the CLI: Node runs the compiled build/src/cli.js, Deno runs src/cli.ts. */
export function cliCommand(runtime: RuntimeName): string[] {
  const root = repoRoot();
  if (runtime === 'deno') {
    const deno = thisRuntime === 'deno' ? process.execPath : join(root, 'node_modules', '.bin', 'deno');
    return [deno, 'run', '-A', join(root, 'src', 'cli.ts')];
  }
  const node = thisRuntime === 'node' ? process.execPath : 'node';
  const built = extname(fileURLToPath(import.meta.url)) === '.js'
    ? join(root, 'build', 'src', 'cli.js')
    : join(root, 'dist', 'cli.js');
  return [node, built];
}

export interface CliOptions {
  runtime?: RuntimeName;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Working directory (default: the repository root). */
  cwd?: string;
  onStderr?: (chunk: string) => void;
  onStdout?: (chunk: string) => void;
  signalAfter?: { pattern: RegExp; signal: 'SIGINT' | 'SIGTERM' | 'SIGKILL' };
  /** Close our end of the child's stdout once its output matches (the child then meets EPIPE). */
  closeStdoutAfter?: RegExp;
  /** Give the CLI a pipe for stderr, as a shell does, instead of the socket Node's spawn makes. */
  stderrPipe?: boolean;
}

export interface RunningCli {
  child: ChildProcess;
  result: Promise<CliResult>;
}

export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return startCli(args, options).result;
}

/** Starts the CLI and returns the child (to signal it) and its result. */
export function startCli(args: string[], options: CliOptions = {}): RunningCli {
  const [command, ...prefix] = cliCommand(options.runtime ?? thisRuntime);
  const argv = options.stderrPipe
    ? ['bash', '-c', 'exec "$@" 2> >(cat >&2)', 'bash', command, ...prefix, ...args]
    : [command, ...prefix, ...args];
  const child = spawn(argv[0], argv.slice(1), {
    cwd: options.cwd ?? repoRoot(),
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const result = new Promise<CliResult>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let signalled = false;
    let closed = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    const check = () => {
      if (!signalled && options.signalAfter && options.signalAfter.pattern.test(stdout + stderr)) {
        signalled = true;
        child.kill(options.signalAfter.signal);
      }
      if (!closed && options.closeStdoutAfter && options.closeStdoutAfter.test(stdout)) {
        closed = true;
        child.stdout!.destroy();
      }
    };
    child.stdout!.on('data', (d) => {
      stdout += d;
      options.onStdout?.(String(d));
      check();
    });
    child.stderr!.on('data', (d) => {
      stderr += d;
      options.onStderr?.(String(d));
      check();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // Deno's node:child_process reports an exit status above 128 as a signal (130 -> SIGINT), so a
      // child that exits with 130 looks killed; map it back to the status the shell would show.
      if (thisRuntime === 'deno' && code === null && signal) {
        const number = ({ SIGINT: 2, SIGKILL: 9, SIGPIPE: 13, SIGTERM: 15 } as Record<string, number>)[signal];
        if (number) return resolve({ code: 128 + number, signal: null, stdout, stderr });
      }
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, result };
}

/**
 * Lines on stderr that come from a GPU driver or WebGPU implementation rather than from the tool:
 * notices a user cannot act on (Dawn's "Warning: ... artificially reduced", Mesa's and wgpu's logs).
 */
const DRIVER_LINE =
  /^(Warning|WARNING|Error|ERROR|MESA|ANV|RADV|NVIDIA|vk[A-Z]|\[wgpu|\[naga|\[\d{4}-\d\d-\d\dT.*(wgpu|naga)|\(node:\d+\))/;

export function driverNoise(stderr: string): string[] {
  return stderr.split('\n').filter((line) =>
    DRIVER_LINE.test(line) || /artificially reduced|not a conformant vulkan/i.test(line)
  );
}
