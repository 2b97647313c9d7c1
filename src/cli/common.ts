// Options and defaults shared by several commands.
import { realpathSync } from 'node:fs';
import { delimiter, isAbsolute, join, relative } from 'node:path';
import process from 'node:process';
import type { OptionSpec } from './args.ts';

export const dataOptions = {
  data: { type: 'string' } as const,
  'no-verify': { type: 'boolean', default: false } as const,
} as const satisfies OptionSpec;

/** Where `train` writes and `eval`/`predict` look by default: relative to the working directory. */
export function defaultCheckpointPath(model: string): string {
  return join('data', 'checkpoints', `${model}.safetensors`);
}

/** An argument as a POSIX shell reads it back: bare when safe, else in single quotes. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(args: readonly string[]): string {
  return args.map(shellQuote).join(' ');
}

/** `name` if the shell finds this very executable under that name on PATH, else its full path. */
function executable(name: string): string {
  const self = realpathOrSelf(process.execPath);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && realpathOrSelf(join(dir, name)) === self) return name;
  }
  return process.execPath;
}

function realpathOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** How this process was started, for messages that say what to run next: node dist/cli.js, or deno run -A src/cli.ts. */
export function cliInvocation(): string[] {
  const script = process.argv[1] ?? 'dist/cli.js';
  const relativeScript = relative(process.cwd(), script);
  const shown = relativeScript && !relativeScript.startsWith('..') && !isAbsolute(relativeScript) ? relativeScript : script;
  return 'Deno' in globalThis ? [executable('deno'), 'run', '-A', shown] : [executable('node'), shown];
}

/**
 * The command that continues this run: the same runtime, script and options (`argv` after the
 * command name), with --resume instead of --resume-from/--overwrite.
 */
export function resumeCommand(command: string, argv: readonly string[]): string {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--resume' || arg === '--overwrite' || arg.startsWith('--resume-from=')) continue;
    if (arg === '--resume-from') {
      i++;
      continue;
    }
    kept.push(arg);
  }
  return commandLine([...cliInvocation(), command, ...kept, '--resume']);
}

/** What to do when the checkpoint to evaluate is missing. */
export function trainFirstAdvice(): string {
  return `Train first (\`${commandLine([...cliInvocation(), 'train'])}\`) or pass --checkpoint PATH.`;
}
