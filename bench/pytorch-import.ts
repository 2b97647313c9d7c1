// PyTorch in, ONNX out, measured against the real things:
//   1. bench/pytorch_state_dict.py trains `digit` in PyTorch and writes its state_dict as
//      safetensors.torch.save_file does, and reports PyTorch's test accuracy and mean loss;
//   2. importStateDict reads it and we evaluate it on the same test set (counts must agree);
//   3. exportOnnx writes it as ONNX; Debian's python3-onnx checker validates it where installed;
//   4. onnxruntime-node, where installed, runs that file on the test set: its classes against ours.
// onnxruntime-node is not a dependency (its install script downloads; it ships a ~290 MB binary):
//   mkdir -p /tmp/ort && cd /tmp/ort && npm init -y && npm install --no-save --ignore-scripts onnxruntime-node@1.30.0
//   ORT_DIR=/tmp/ort/node_modules/onnxruntime-node node build/bench/pytorch-import.js [--steps 400]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { DIGIT, evaluate, exportOnnx, importStateDict, loadDataset, openDevice } from '../src/mod.ts';
import { resolveDataDir } from '../src/data/mnist.ts';
import { MNIST_MEAN, MNIST_STD } from '../src/util/shapes.ts';
import { PYTHON } from './pytorch.ts';

const steps = process.argv.includes('--steps') ? process.argv[process.argv.indexOf('--steps') + 1] : '400';
const dir = mkdtempSync(join(tmpdir(), 'pytorch-import-'));
const dataDir = resolveDataDir();
const script = new URL('./pytorch_state_dict.py', import.meta.url).pathname.replace('/build/bench/', '/bench/');
try {
  const stateDict = join(dir, 'digit.safetensors');
  const py = spawnSync(PYTHON, [script, '--out', stateDict, '--steps', steps, '--data', dataDir], { encoding: 'utf8' });
  if (py.status !== 0) throw new Error(`pytorch_state_dict.py failed: ${py.stderr.trim().split('\n').at(-1)}`);
  const torch = JSON.parse(py.stdout.trim().split('\n').at(-1)!);
  console.log(
    `PyTorch ${torch.torch}, ${steps} steps, state_dict written by ${torch.writer}: ` +
      `${torch.correct}/${torch.count} (${(100 * torch.accuracy).toFixed(2)}%), mean loss ${
        torch.mean_loss.toFixed(6)
      }`,
  );

  const { params } = importStateDict(readFileSync(stateDict), DIGIT, stateDict);
  const test = await loadDataset({ split: 'test', dir: dataDir });
  const gpu = await openDevice();
  const ours = await evaluate(gpu, { model: DIGIT, params }, test, { batchSize: 64 });
  await gpu.close();
  console.log(
    `imported, evaluated here: ${ours.correct}/${ours.count} (${(100 * ours.accuracy).toFixed(2)}%), mean loss ` +
      `${ours.meanLoss.toFixed(6)}; ${
        ours.correct === torch.correct ? 'same count as PyTorch' : `PyTorch counted ${torch.correct}`
      }`,
  );

  const onnxPath = join(dir, 'digit.onnx');
  writeFileSync(onnxPath, exportOnnx(DIGIT, params, 'bench'));
  const checker = spawnSync(PYTHON, [
    '-c',
    'import onnx,sys; m=onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); ' +
    'print("onnx", onnx.__version__, "checker: valid, opset", m.opset_import[0].version)',
    onnxPath,
  ], { encoding: 'utf8' });
  console.log(
    checker.status === 0 ? checker.stdout.trim() : `onnx checker: ${checker.stderr.trim().split('\n').at(-1)}`,
  );

  let ort: {
    InferenceSession: { create(path: string): Promise<OrtSession> };
    Tensor: new (type: string, data: Float32Array, dims: number[]) => unknown;
  };
  try {
    ort = createRequire(import.meta.url)(process.env.ORT_DIR ?? 'onnxruntime-node');
  } catch (err) {
    console.log(`onnxruntime-node: not installed (${(err as Error).message.split('\n')[0]}); see this file's header`);
    process.exit(0);
  }
  const session = await ort.InferenceSession.create(onnxPath);
  const input = new Float32Array(test.images.length);
  for (let i = 0; i < input.length; i++) input[i] = (test.images[i] / 255 - MNIST_MEAN) / MNIST_STD;
  const started = performance.now();
  const out = await session.run({ input: new ort.Tensor('float32', input, [test.count, 1, 28, 28]) });
  const seconds = (performance.now() - started) / 1000;
  const logProbs = out.log_probs.data;
  let same = 0;
  let correct = 0;
  for (let i = 0; i < test.count; i++) {
    const row = logProbs.subarray(i * 10, i * 10 + 10);
    const best = row.indexOf(Math.max(...row));
    if (best === ours.predictions[i]) same++;
    if (best === test.labels[i]) correct++;
  }
  console.log(
    `onnxruntime-node: ${correct}/${test.count} correct, same class as ours for ${same}/${test.count} images ` +
      `(${(test.count / seconds).toFixed(0)} images/s on the CPU)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}

interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: Float32Array }>>;
}
