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
import { DIGIT, type ModelSpec, parameterSpecs } from '../../src/nn/spec.ts';
import { PYTHON } from '../../bench/pytorch.ts';
import { skip } from '../helpers/skip.ts';

const test = suite('io/onnx');

type Field = { field: number; value: bigint | Uint8Array };

/** The top-level fields of one protobuf message (varint and length-delimited only, as the writer emits). */
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

test('the onnx checker (python3-onnx, where installed) accepts the file, shapes inferred', () => {
  const probe = spawnSync(PYTHON, ['-c', 'import onnx'], { stdio: 'ignore' });
  if (probe.status !== 0) {
    return skip('the onnx checker needs python3 with onnx: apt-get install python3-onnx', { requiredInCi: true });
  }
  const dir = mkdtempSync(join(tmpdir(), 'onnx-'));
  try {
    const path = join(dir, 'digit.onnx');
    writeFileSync(path, graphOf(DIGIT, 5).bytes);
    const check = spawnSync(PYTHON, [
      '-c',
      'import onnx,sys; m=onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); ' +
      'g=onnx.shape_inference.infer_shapes(m).graph; print([d.dim_value or d.dim_param for d in g.output[0].type.tensor_type.shape.dim])',
      path,
    ], { encoding: 'utf8' });
    assert.is(check.status, 0, check.stderr);
    assert.is(check.stdout.trim(), "['batch', 10]");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
