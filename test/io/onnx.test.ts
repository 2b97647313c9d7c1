// The ONNX export, read back with a small protobuf reader written here from onnx.proto's field
// numbers, and validated by the onnx package's checker where python3 has it (Debian: python3-onnx).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportOnnx } from '../../src/io/onnx.ts';
import { initParameters, ParameterLayout } from '../../src/nn/parameters.ts';
import { BEST, DIGIT, FAST, type ModelSpec, parameterSpecs } from '../../src/nn/spec.ts';
import { Network } from '../../src/nn/network.ts';
import { evaluate } from '../../src/train/evaluate.ts';
import { MNIST_MEAN, MNIST_STD } from '../../src/util/shapes.ts';
import { Rng } from '../../src/util/random.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import { head, testSplit } from '../helpers/mnist.ts';
import { PYTHON } from '../../bench/pytorch.ts';
import { skip } from '../helpers/skip.ts';

const test = suite('io/onnx');

type Field = { field: number; value: bigint | Uint8Array };

/** The top-level fields of one protobuf message (varint, length-delimited and fixed32, as the writer emits). */
function fields(bytes: Uint8Array): Field[] {
  const out: Field[] = [];
  let at = 0;
  const varint = () => {
    let value = 0n;
    let shift = 0n;
    for (;;) {
      const byte = bytes[at++];
      value |= BigInt(byte & 0x7f) << shift;
      shift += 7n;
      if (!(byte & 0x80)) return value;
    }
  };
  while (at < bytes.length) {
    const key = Number(varint());
    const wire = key & 7;
    if (wire === 0) out.push({ field: key >> 3, value: varint() });
    else if (wire === 2) {
      const length = Number(varint());
      out.push({ field: key >> 3, value: bytes.subarray(at, at + length) });
      at += length;
    } else if (wire === 5) {
      out.push({ field: key >> 3, value: bytes.subarray(at, at + 4) });
      at += 4;
    } else throw new Error(`wire type ${wire}`);
  }
  return out;
}
const all = (msg: Uint8Array, field: number) => fields(msg).filter((f) => f.field === field).map((f) => f.value);
const one = (msg: Uint8Array, field: number) => all(msg, field)[0];
const text = (value: unknown) => new TextDecoder().decode(value as Uint8Array);

function graphOf(model: ModelSpec, seed: number) {
  const layout = new ParameterLayout(parameterSpecs(model));
  const params = initParameters(layout, seed);
  const bytes = exportOnnx(model, params);
  const graph = one(bytes, 7) as Uint8Array;
  return { bytes, layout, params, graph };
}

test('digit: Conv, Relu, MaxPool, Flatten, Gemm, LogSoftmax at opset 13, weights as float initializers, bit for bit', () => {
  const { bytes, layout, params, graph } = graphOf(DIGIT, 3);
  assert.is(one(bytes, 1), 7n, 'IR version 7');
  assert.is(one(one(bytes, 8) as Uint8Array, 2), 13n, 'opset 13');
  const nodes = all(graph, 1) as Uint8Array[];
  assert.equal(nodes.map((n) => text(one(n, 4))), [
    'Conv',
    'Relu',
    'MaxPool',
    'Conv',
    'Relu',
    'Flatten',
    'Gemm',
    'Relu',
    'Gemm',
    'LogSoftmax',
  ]);
  // Each node reads the previous one's output; the first reads the graph input, the last writes the output.
  nodes.forEach((node, i) => assert.is(text(all(node, 1)[0]), i === 0 ? 'input' : text(one(nodes[i - 1], 2))));
  assert.is(text(one(nodes.at(-1)!, 2)), 'log_probs');
  const gemm = nodes[6];
  const transB = (all(gemm, 5) as Uint8Array[]).find((a) => text(one(a, 1)) === 'transB')!;
  assert.is(one(transB, 3), 1n);
  const initializers = all(graph, 5) as Uint8Array[];
  assert.is(initializers.length, layout.slots.length);
  for (const [i, slot] of layout.slots.entries()) {
    const t = initializers[i];
    assert.is(text(one(t, 8)), slot.name);
    assert.equal(all(t, 1).map(Number), slot.shape);
    assert.is(one(t, 2), 1n, 'FLOAT');
    const raw = one(t, 9) as Uint8Array;
    const values = new Float32Array(raw.slice().buffer);
    assert.equal([...values], [...params.subarray(slot.offset, slot.offset + slot.count)], slot.name);
  }
});

test('a model with padding, strides and two pools exports its attributes', () => {
  const model: ModelSpec = {
    name: 'other',
    input: [1, 28, 28],
    classes: 10,
    layers: [
      { kind: 'conv2d', name: 'c1', outChannels: 4, kernel: 3, padding: 1, stride: 2 },
      { kind: 'relu' },
      { kind: 'maxpool2d', kernel: 2 },
      { kind: 'flatten' },
      { kind: 'linear', name: 'fc', outFeatures: 10 },
    ],
  };
  const { graph } = graphOf(model, 4);
  const conv = (all(graph, 1) as Uint8Array[])[0];
  const attr = (name: string) => (all(conv, 5) as Uint8Array[]).find((a) => text(one(a, 1)) === name)!;
  assert.equal(all(attr('pads'), 8).map(Number), [1, 1, 1, 1]);
  assert.equal(all(attr('strides'), 8).map(Number), [2, 2]);
});

/** Every layer kind, with a windowed and a global average pooling. */
const EVERY_KIND: ModelSpec = {
  name: 'every-kind',
  input: [1, 28, 28],
  classes: 10,
  layers: [
    { kind: 'conv2d', name: 'conv1', outChannels: 4, kernel: 3, padding: 1 },
    { kind: 'batchnorm2d', name: 'conv1_bn' },
    { kind: 'relu' },
    { kind: 'maxpool2d', kernel: 2 },
    { kind: 'avgpool2d', kernel: 2 },
    { kind: 'conv2d', name: 'conv2', outChannels: 6, kernel: 3, padding: 1 },
    { kind: 'relu' },
    { kind: 'avgpool2d' },
    { kind: 'flatten' },
    { kind: 'linear', name: 'fc1', outFeatures: 16 },
    { kind: 'batchnorm1d', name: 'fc1_bn', eps: 1e-3, momentum: 0.2 },
    { kind: 'relu' },
    { kind: 'dropout', p: 0.25 },
    { kind: 'linear', name: 'fc2', outFeatures: 10 },
  ],
};

/** Parameters with batch norm's running statistics moved off their start, so inference mode is visible. */
function parametersOf(model: ModelSpec, seed: number): { layout: ParameterLayout; params: Float32Array } {
  const layout = new ParameterLayout(parameterSpecs(model));
  const params = initParameters(layout, seed);
  const rng = new Rng(seed);
  for (const slot of layout.slots) {
    const at = (i: number) => slot.offset + i;
    if (slot.name.endsWith('.running_mean')) {
      for (let i = 0; i < slot.count; i++) params[at(i)] = rng.uniform(-0.5, 0.5);
    }
    if (slot.name.endsWith('.running_var')) {
      for (let i = 0; i < slot.count; i++) params[at(i)] = rng.uniform(0.5, 2);
    }
    if (slot.name.endsWith('_bn.weight')) {
      for (let i = 0; i < slot.count; i++) params[at(i)] = rng.uniform(0.5, 1.5);
    }
  }
  return { layout, params };
}

/** The smooth activations, written from opset 13's operators where it has none (GELU, SiLU). */
const SMOOTH: ModelSpec = {
  name: 'smooth',
  input: [1, 28, 28],
  classes: 10,
  layers: [
    { kind: 'conv2d', name: 'conv1', outChannels: 4, kernel: 5, stride: 2 },
    { kind: 'gelu' },
    { kind: 'conv2d', name: 'conv2', outChannels: 6, kernel: 3, stride: 2 },
    { kind: 'silu' },
    { kind: 'flatten' },
    { kind: 'linear', name: 'fc1', outFeatures: 24 },
    { kind: 'leakyrelu', slope: 0.1 },
    { kind: 'linear', name: 'fc2', outFeatures: 16 },
    { kind: 'tanh' },
    { kind: 'linear', name: 'fc3', outFeatures: 16 },
    { kind: 'sigmoid' },
    { kind: 'linear', name: 'fc4', outFeatures: 10 },
  ],
};

const MODELS: ModelSpec[] = [DIGIT, FAST, BEST, EVERY_KIND, SMOOTH];

test('every kind has its ONNX nodes: BatchNormalization with running statistics, Identity for dropout, both poolings', () => {
  const { graph } = graphOf(EVERY_KIND, 6);
  const nodes = all(graph, 1) as Uint8Array[];
  assert.equal(nodes.map((n) => text(one(n, 4))), [
    'Conv',
    'BatchNormalization',
    'Relu',
    'MaxPool',
    'AveragePool',
    'Conv',
    'Relu',
    'GlobalAveragePool',
    'Flatten',
    'Gemm',
    'BatchNormalization',
    'Relu',
    'Identity',
    'Gemm',
    'LogSoftmax',
  ]);
  const batchNorm = nodes[10];
  assert.equal((all(batchNorm, 1) as Uint8Array[]).slice(1).map(text), [
    'fc1_bn.weight',
    'fc1_bn.bias',
    'fc1_bn.running_mean',
    'fc1_bn.running_var',
  ]);
  const attribute = (name: string) => {
    const found = (all(batchNorm, 5) as Uint8Array[]).find((a) => text(one(a, 1)) === name)!;
    return new Float32Array((one(found, 2) as Uint8Array).slice().buffer)[0];
  };
  assert.is(attribute('epsilon'), Math.fround(1e-3));
  // PyTorch's momentum m weighs the new batch; ONNX's weighs the running value: 1 - m.
  assert.is(attribute('momentum'), Math.fround(0.8));
});

test('the onnx checker (python3-onnx, where installed) accepts digit, fast, best, every kind and the smooth activations, shapes inferred', () => {
  const probe = spawnSync(PYTHON, ['-c', 'import onnx'], { stdio: 'ignore' });
  if (probe.status !== 0) {
    return skip('the onnx checker needs python3 with onnx: apt-get install python3-onnx', { requiredInCi: true });
  }
  const dir = mkdtempSync(join(tmpdir(), 'onnx-'));
  try {
    const paths = MODELS.map((model, i) => {
      const path = join(dir, `${model.name}.onnx`);
      writeFileSync(path, exportOnnx(model, parametersOf(model, 5 + i).params));
      return path;
    });
    const check = spawnSync(PYTHON, [
      '-c',
      'import onnx,sys\nfor p in sys.argv[1:]:\n m=onnx.load(p); onnx.checker.check_model(m, full_check=True)\n ' +
      'g=onnx.shape_inference.infer_shapes(m).graph; print([d.dim_value or d.dim_param for d in g.output[0].type.tensor_type.shape.dim])',
      ...paths,
    ], { encoding: 'utf8' });
    assert.is(check.status, 0, check.stderr);
    assert.equal(check.stdout.trim().split('\n'), MODELS.map(() => "['batch', 10]"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The part of onnxruntime-node's API used here. */
interface OnnxRuntime {
  InferenceSession: {
    create(
      model: Uint8Array,
    ): Promise<{ run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown }>> }>;
  };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
}

/** onnxruntime-node, a bench-only install (`npm i --no-save --ignore-scripts onnxruntime-node`), or undefined. */
async function onnxRuntime(): Promise<OnnxRuntime | undefined> {
  const name = 'onnxruntime-node';
  try {
    return (await import(name)) as OnnxRuntime;
  } catch {
    return undefined;
  }
}

/** Test images per model (best costs ~17x digit's per image on a CPU driver). */
const AGREEMENT_IMAGES = 300;

test('onnxruntime predicts the class eval predicts, image for image (digit, fast, best, every kind, smooth activations)', async () => {
  const ort = await onnxRuntime();
  if (!ort) {
    return skip('needs onnxruntime-node: npm i --no-save --ignore-scripts onnxruntime-node', { requiredInCi: false });
  }
  const gpu = await sharedGpu();
  const split = head(await testSplit('test'), AGREEMENT_IMAGES);
  const size = split.rows * split.cols;
  const input = Float32Array.from(split.images, (pixel) => (pixel / 255 - MNIST_MEAN) / MNIST_STD);
  for (const [i, model] of MODELS.entries()) {
    const { params } = parametersOf(model, 11 + i);
    const session = await ort.InferenceSession.create(exportOnnx(model, params));
    const output = await session.run({ input: new ort.Tensor('float32', input, [split.count, 1, 28, 28]) });
    const logProbs = output.log_probs.data as Float32Array;
    const network = await Network.create(gpu, model, { maxBatch: 100, training: false });
    try {
      network.setParameters(params);
      const { predictions } = await evaluate(gpu, network, split);
      let differ = 0;
      for (let n = 0; n < split.count; n++) {
        const row = Array.from(logProbs.subarray(n * 10, n * 10 + 10));
        const sorted = [...row].sort((a, b) => b - a);
        // A near-tie may fall either way in float32; a clear winner must be the same class.
        if (sorted[0] - sorted[1] > 1e-4 && row.indexOf(sorted[0]) !== predictions[n]) differ++;
      }
      assert.is(
        differ,
        0,
        `${model.name}: ${differ} of ${split.count} images classified differently (${size} pixels each)`,
      );
    } finally {
      network.destroy();
    }
  }
});

test.run();
