// Argument parsing shared by the commands: node:util parseArgs (works under Node and Deno) plus
// checked conversions, so a bad value is a usage error (exit code 2) before anything is written.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

type StrictConfig<T extends OptionSpec> = { args: string[]; options: T; allowPositionals: true; strict: true };

export function parseCommandArgs<T extends OptionSpec>(
  argv: string[],
  options: T,
  allowPositionals = false,
): ReturnType<typeof parseArgs<StrictConfig<T>>> {
  try {
    return parseArgs<StrictConfig<T>>({
      args: argv,
      options,
      allowPositionals: allowPositionals as true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
}

/** Decimal integers only: "0x10", "1e1", " 7" and "+3" are refused, not read as 16, 10, 7 and 3. */
export function intOption(value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a decimal integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
  }
  return n;
}

/** Decimal numbers with an optional exponent (0.001, 1e-3); no hex, no blanks, no Infinity. */
const DECIMAL = /^(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

export function positiveNumberOption(value: unknown, name: string): number {
  const n = typeof value === 'string' && DECIMAL.test(value) ? Number(value) : Number.NaN;
  if (!Number.isFinite(n) || n <= 0) {
    throw new UsageError(`--${name} must be a positive decimal number, got ${JSON.stringify(value)}`);
  }
  return n;
}

export function nonNegativeNumberOption(value: unknown, name: string): number {
  const n = typeof value === 'string' && DECIMAL.test(value) ? Number(value) : Number.NaN;
  if (!Number.isFinite(n) || n < 0) {
    throw new UsageError(`--${name} must be a decimal number >= 0, got ${JSON.stringify(value)}`);
  }
  return n;
}

export function choiceOption<T extends string>(value: unknown, name: string, choices: readonly T[]): T {
  if (typeof value !== 'string' || !choices.includes(value as T)) {
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}
