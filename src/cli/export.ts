// `export`: writes a checkpoint as an ONNX model (opset 13) for other runtimes, or as a static web page.
import { writeFileAtomic } from '../io/files.ts';
import { checkWriteTarget } from '../io/write-target.ts';
import { exportOnnx, ONNX_OPSET } from '../io/onnx.ts';
import { loadCheckpoint } from '../train/checkpoint.ts';
import { choiceOption, parseCommandArgs, UsageError } from './args.ts';
import { defaultCheckpointPath, trainFirstAdvice } from './common.ts';
import { recordedPreprocessing } from './folder-data.ts';
import { checkWebTarget, exportWebPage } from './export-web.ts';

export const EXPORT_HELP = `Usage: export --format onnx|web [--checkpoint PATH] --out FILE.onnx|DIR

Writes the checkpoint's model as ONNX (opset ${ONNX_OPSET}; every layer kind: batch norm with its running
statistics, dropout as Identity) with its weights. The graph takes float32 input [batch, 1, 28, 28] normalized as PyTorch's MNIST example does,
(pixel / 255 - 0.1307) / 0.3081, and outputs log-probabilities [batch, 10] ("log_probs"). A checkpoint
trained on --dataset folder records its own per-channel normalization: its graph takes [batch, C, H, W]
as pixel / 255 (RGB planes for a color model) and applies the recorded mean and std itself, as a first
Sub and Div; the model's metadata_props state them.

--format web writes a folder (created; never half-written) that classifies drawn digits in any WebGPU
browser from any static host, with no process of ours: index.html, main.js (the engine bundled for
browsers), model.json and params.bin (the checkpoint). A browser without WebGPU is told so in a sentence.
Every preset and model file; a folder-trained model gets the drawing as serve's page feeds it.

Options:
  --format onnx|web    onnx: an ONNX model file; web: a static web page folder
  --checkpoint PATH    checkpoint to export (default: data/checkpoints/digit.safetensors)
  --out FILE|DIR       file (onnx) or folder (web) to write (default: <checkpoint name>.onnx, or
                       <checkpoint name>-web/, beside it)
  --overwrite          replace --out if it exists (a folder only if export --format web wrote it)
  -h, --help           show this help`;

export async function exportCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    format: { type: 'string' } as const,
    checkpoint: { type: 'string' } as const,
    out: { type: 'string' } as const,
    overwrite: { type: 'boolean', default: false } as const,
    help: { type: 'boolean', short: 'h', default: false } as const,
  });
  if (values.help) {
    console.log(EXPORT_HELP);
    return 0;
  }
  if (values.format === undefined) throw new UsageError('--format onnx or --format web is required');
  const format = choiceOption(values.format, 'format', ['onnx', 'web'] as const);
  const path = values.checkpoint ?? defaultCheckpointPath('digit');
  if (format === 'web') {
    const dir = values.out ?? path.replace(/(\.safetensors)?$/, '-web');
    checkWebTarget(dir, values.overwrite!);
    const checkpoint = loadCheckpoint(path, { missingAdvice: trainFirstAdvice() });
    const bytes = await exportWebPage(checkpoint, dir, values.overwrite!);
    console.log(
      `wrote ${dir}/ (${checkpoint.model.name}: index.html, main.js, model.json, params.bin; ${bytes} bytes): ` +
        'serve it from any static host and open index.html in a WebGPU browser',
    );
    return 0;
  }
  const out = values.out ?? path.replace(/(\.safetensors)?$/, '.onnx');
  const target = { what: '--out', overwrite: values.overwrite, inputs: [[path, 'the checkpoint to export']] as const };
  checkWriteTarget(out, target);
  const checkpoint = loadCheckpoint(path, { missingAdvice: trainFirstAdvice() });
  const { normalization } = recordedPreprocessing(checkpoint.metadata);
  const bytes = exportOnnx(checkpoint.model, checkpoint.params, 'webgpu-digits', { normalization });
  checkWriteTarget(out, target); // again: a run may have started writing there meanwhile
  await writeFileAtomic(out, bytes);
  console.log(`wrote ${out} (${checkpoint.model.name}, ONNX opset ${ONNX_OPSET}, ${bytes.length} bytes)`);
  if (normalization) {
    console.log(
      `input [batch, ${checkpoint.model.input.join(', ')}] as pixel / 255; the graph normalizes it with mean ` +
        `${normalization.mean.map((m) => m.toFixed(4)).join(', ')} and std ${
          normalization.std.map((m) => m.toFixed(4)).join(', ')
        }`,
    );
  }
  return 0;
}
