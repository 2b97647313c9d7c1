// Options and defaults shared by several commands.
import { realpathSync } from 'node:fs';
import { delimiter, isAbsolute, join, relative } from 'node:path';
import process from 'node:process';
import { choiceOption, type OptionSpec, UsageError } from './args.ts';
import { DATASET_NAMES, type DatasetPreset, getDataset } from '../data/datasets.ts';
import type { OpenGpuOptions } from '../gpu/device.ts';
import { DEVICE_CLASSES, type DeviceKind, isDeviceClass } from '../gpu/profile.ts';

export const dataOptions = {
  dataset: { type: 'string' } as const,
  data: { type: 'string' } as const,
  'no-verify': { type: 'boolean', default: false } as const,
} as const satisfies OptionSpec;

/** Help lines of dataOptions. */
export const DATA_HELP = `  --dataset NAME       ${DATASET_NAMES.join('|')} (default: mnist, or the checkpoint's)
  --data DIR           dataset folder (default: $MNIST_DIR for mnist, $FASHION_MNIST_DIR, $KMNIST_DIR,
                       else data/<dataset>; missing files are downloaded from the dataset's mirrors)
  --no-verify          do not verify the checksums (other datasets in IDX format); never downloads`;

/** The preset --dataset names, else `fallback` (a checkpoint's recorded dataset), else MNIST. */
export function datasetOption(value: string | undefined, fallback?: string): DatasetPreset {
  const name = value ?? fallback ?? 'mnist';
  try {
    return getDataset(name);
  } catch (err) {
    if (value === undefined) return getDataset('mnist'); // a checkpoint from a newer version: evaluate on MNIST
    throw new UsageError((err as Error).message.replace(/^Unknown dataset/, '--dataset: unknown dataset'));
  }
}

export const deviceOptions = {
  adapter: { type: 'string' } as const,
  'power-preference': { type: 'string' } as const,
  'device-class': { type: 'string' } as const,
} as const satisfies OptionSpec;

/** Names the device class when --device-class does not (src/gpu/profile.ts DEVICE_CLASSES). */
export const DEVICE_CLASS_ENV = 'WEBGPU_DIGITS_DEVICE_CLASS';

/** Help lines of deviceOptions. */
export const DEVICE_HELP = `  --adapter N|NAME     GPU adapter by number or (part of its) name, as \`info\` lists them
  --power-preference low-power|high-performance   which adapter the runtime prefers (default: high-performance)
  --device-class ${DEVICE_CLASSES.join('|')}
                       plan for this class of device instead of the adapter's own (default:
                       $${DEVICE_CLASS_ENV}, else as \`info\` classifies the adapter); integrated-gpu
                       and discrete-gpu run the GPU-class kernels, even on a CPU driver`;

/** openGpu's options from deviceOptions' values. */
export function gpuOptions(
  values: { adapter?: string; 'power-preference'?: string; 'device-class'?: string },
  env: Record<string, string | undefined> = process.env,
): Pick<OpenGpuOptions, 'adapter' | 'powerPreference' | 'deviceClass'> {
  const out: Pick<OpenGpuOptions, 'adapter' | 'powerPreference' | 'deviceClass'> = {};
  if (values.adapter !== undefined) {
    if (values.adapter.trim() === '') throw new UsageError('--adapter needs a number or a name');
    out.adapter = /^[0-9]+$/.test(values.adapter) ? Number(values.adapter) : values.adapter;
  }
  if (values['power-preference'] !== undefined) {
    out.powerPreference = choiceOption(
      values['power-preference'],
      'power-preference',
      ['low-power', 'high-performance'] as const,
    );
  }
  const deviceClass = deviceClassOption(values['device-class'], env);
  if (deviceClass) out.deviceClass = deviceClass;
  return out;
}

/** --device-class, else $WEBGPU_DIGITS_DEVICE_CLASS (set and not empty), checked; undefined for the adapter's own. */
export function deviceClassOption(
  flag: string | undefined,
  env: Record<string, string | undefined> = process.env,
): DeviceKind | undefined {
  if (flag !== undefined) return choiceOption(flag, 'device-class', DEVICE_CLASSES);
  const fromEnv = env[DEVICE_CLASS_ENV];
  if (fromEnv === undefined || fromEnv === '') return undefined;
  if (!isDeviceClass(fromEnv)) {
    throw new UsageError(
      `$${DEVICE_CLASS_ENV} must be one of ${DEVICE_CLASSES.join(', ')}, got ${JSON.stringify(fromEnv)} ` +
        `(unset it to use the adapter's own class)`,
    );
  }
  return fromEnv;
}

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
  const shown = relativeScript && !relativeScript.startsWith('..') && !isAbsolute(relativeScript)
    ? relativeScript
    : script;
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
