// `import`: turns a PyTorch state_dict (safetensors.torch.save_file(model.state_dict(), path)) into
// one of our checkpoints, after checking every tensor against the model.
import { basename } from 'node:path';
import { FileError, readRegularFile } from '../io/files.ts';
import { checkWriteTarget } from '../io/write-target.ts';
import { CheckpointLock } from '../train/lock.ts';
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
  checkWriteTarget(out, { what: '--out', overwrite: values.overwrite, inputs: [[source, 'the state dict to import']] });
  const { params } = importStateDict(readRegularFile(source, 'State dict'), model, source);
  const config: TrainConfig = { model, epochs: 0, batchSize: 1, seed: 0, shuffle: false, adam: ADAM_DEFAULTS };
  // The checkpoint's lock, as train takes it: a run that starts meanwhile, or runs already, is not overwritten.
  let lock: CheckpointLock;
  try {
    lock = CheckpointLock.acquire(out);
  } catch (err) {
    if (err instanceof FileError) throw new Error(`cannot write ${out}: ${err.message}`);
    throw err;
  }
  try {
    await saveCheckpoint(out, {
      config,
      state: initialState(params),
      withOptimizer: false,
      run: { dataset: dataset.name, imported_from: basename(source) },
    });
  } finally {
    lock.release();
  }
  console.log(`wrote ${out} (${model.name}, ${dataset.name}) from ${source}`);
  console.log(`evaluate it with: ${commandLine([...cliInvocation(), 'eval', '--checkpoint', out])}`);
  return 0;
}
