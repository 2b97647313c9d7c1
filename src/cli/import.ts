// `import`: turns a PyTorch state_dict (safetensors.torch.save_file(model.state_dict(), path)) into
// one of our checkpoints, after checking every tensor against the model.
import { basename } from 'node:path';
import { readRegularFile, statOrUndefined } from '../io/files.ts';
import { importStateDict } from '../io/state-dict.ts';
import { getModel } from '../nn/spec.ts';
import { saveCheckpoint } from '../train/checkpoint.ts';
import { initialState, type TrainConfig } from '../train/trainer.ts';
import { ADAM_DEFAULTS } from '../kernels/adam.ts';
import { parseCommandArgs, UsageError } from './args.ts';
import { cliInvocation, commandLine, datasetOption, defaultCheckpointPath } from './common.ts';

export const IMPORT_HELP = `Usage: import --model NAME STATE_DICT.safetensors [--out PATH]

Reads a PyTorch state_dict written by safetensors.torch.save_file(model.state_dict(), path), checks
every tensor's name, shape and dtype (F32) against the model, and writes a checkpoint that eval,
predict, report and export read.

Options:
  --model NAME         model description the state_dict belongs to (default: digit)
  --out PATH           checkpoint to write (default: data/checkpoints/<model>.safetensors)
  --dataset NAME       dataset the weights were trained on, recorded in the checkpoint (default: mnist)
  --overwrite          replace --out if it exists
  -h, --help           show this help`;

export async function importCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    model: { type: 'string', default: 'digit' } as const,
    out: { type: 'string' } as const,
    dataset: { type: 'string' } as const,
    overwrite: { type: 'boolean', default: false } as const,
    help: { type: 'boolean', short: 'h', default: false } as const,
  }, true);
  if (values.help) {
    console.log(IMPORT_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('give exactly one state_dict file (.safetensors) to import');
  let model;
  try {
    model = getModel(values.model!);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const dataset = datasetOption(values.dataset);
  const source = positionals[0];
  const out = values.out ?? defaultCheckpointPath(model.name);
  if (statOrUndefined(out) && !values.overwrite) {
    throw new UsageError(`${out} exists; pass --overwrite to replace it, or another --out`);
  }
  const { params } = importStateDict(readRegularFile(source, 'State dict'), model, source);
  const config: TrainConfig = { model, epochs: 0, batchSize: 1, seed: 0, shuffle: false, adam: ADAM_DEFAULTS };
  await saveCheckpoint(out, {
    config,
    state: initialState(params),
    withOptimizer: false,
    run: { dataset: dataset.name, imported_from: basename(source) },
  });
  console.log(`wrote ${out} (${model.name}, ${dataset.name}) from ${source}`);
  console.log(`evaluate it with: ${commandLine([...cliInvocation(), 'eval', '--checkpoint', out])}`);
  return 0;
}
