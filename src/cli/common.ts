// Options and defaults shared by several commands.
import { join } from 'node:path';
import type { OptionSpec } from './args.ts';

export const dataOptions = {
  data: { type: 'string' } as const,
  'no-verify': { type: 'boolean', default: false } as const,
} as const satisfies OptionSpec;

/** Where `train` writes and `eval`/`predict` look by default: relative to the working directory. */
export function defaultCheckpointPath(model: string): string {
  return join('data', 'checkpoints', `${model}.safetensors`);
}
