// Writes a model as ONNX (opset 13), protobuf encoded by hand from onnx.proto: only the messages and
// fields a graph of the layers' ONNX nodes (each kind's definition in src/nn/layers/ says which) and
// LogSoftmax with float weights needs. Batch norm exports in inference mode (its running statistics).
// The graph takes what the PyTorch model takes: float32 [batch, C, H, W], normalized
// ((pixel / 255 - 0.1307) / 0.3081 for MNIST); it outputs log-probabilities [batch, classes]. Given the
// per-channel constants a checkpoint records (--dataset folder), the graph applies them itself, as a
// first Sub and Div, and takes pixel / 255: any runtime then preprocesses as training did.
import type { Normalization } from '../kernels/normalize.ts';
import { LAYER_INPUT, layerDefinition, type OnnxNode } from '../nn/layers/index.ts';
import { ParameterLayout } from '../nn/parameters.ts';
import { type ModelSpec, parameterSpecs, resolveLayers } from '../nn/spec.ts';

export const ONNX_OPSET = 13;
/** IR version 7 goes with opset 13 (ONNX 1.8). */
const IR_VERSION = 7;
const FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_INTS = 7;

/** Protobuf wire format: varints (wire type 0), length-delimited fields (wire type 2). */
class Writer {
  private readonly parts: Uint8Array[] = [];
  private length = 0;

  private push(bytes: Uint8Array): this {
    this.parts.push(bytes);
    this.length += bytes.length;
    return this;
  }

  private varint(value: number | bigint): this {
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v) byte |= 0x80;
      out.push(byte);
    } while (v);
    return this.push(Uint8Array.from(out));
  }

  int(field: number, value: number): this {
    return this.varint((field << 3) | 0).varint(value);
  }

  /** A float field (wire type 5: four little-endian bytes). */
  float(field: number, value: number): this {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    return this.varint((field << 3) | 5).push(bytes);
  }

  bytes(field: number, bytes: Uint8Array): this {
    return this.varint((field << 3) | 2).varint(bytes.length).push(bytes);
  }

  string(field: number, text: string): this {
    return this.bytes(field, new TextEncoder().encode(text));
  }

  message(field: number, build: (w: Writer) => void): this {
    const inner = new Writer();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const part of this.parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }
}

interface NodeSpec extends OnnxNode {
  output: string;
}

function writeNode(w: Writer, node: NodeSpec, index: number): void {
  w.message(1, (n) => {
    for (const input of node.inputs) n.string(1, input);
    n.string(2, node.output);
    n.string(3, `${node.op}_${index}`);
    n.string(4, node.op);
    for (const a of node.attributes ?? []) {
      n.message(5, (attr) => {
        attr.string(1, a.name);
        if ('int' in a) attr.int(3, a.int).int(20, ATTR_INT);
        else if ('float' in a) attr.float(2, a.float).int(20, ATTR_FLOAT);
        else {
          for (const v of a.ints) attr.int(8, v);
          attr.int(20, ATTR_INTS);
        }
      });
    }
  });
}

/** ValueInfoProto of a float tensor; a string dimension is symbolic (the batch). */
function writeValueInfo(w: Writer, field: number, name: string, dims: (number | string)[]): void {
  w.message(field, (v) => {
    v.string(1, name);
    v.message(2, (type) =>
      type.message(1, (tensor) => {
        tensor.int(1, FLOAT);
        tensor.message(2, (shape) => {
          for (const d of dims) shape.message(1, (dim) => (typeof d === 'string' ? dim.string(2, d) : dim.int(1, d)));
        });
      }));
  });
}

/** Little-endian bytes of float32 values (raw_data is little-endian whatever the host). */
function floatBytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((x, i) => view.setFloat32(i * 4, x, true));
  return out;
}

export interface OnnxExportOptions {
  /**
   * Fold this per-channel normalization into the graph (Sub "input_mean", Div "input_std", each
   * [1, C, 1, 1]): the input is then pixel / 255 in [0, 1], and metadata_props say so. Without it the
   * input is already normalized (MNIST's export, unchanged).
   */
  normalization?: Normalization;
}

/** The metadata_props key stating what the exported graph's input is. */
export const ONNX_INPUT_KEY = 'webgpu_digits.input';

/**
 * The ONNX file of `model` with the flat parameters `params` (ParameterLayout order). Linear layers
 * become Gemm with transB=1, so the weights keep PyTorch's [out, in] layout.
 */
export function exportOnnx(
  model: ModelSpec,
  params: Float32Array,
  producerVersion = '',
  options: OnnxExportOptions = {},
): Uint8Array {
  const layout = new ParameterLayout(parameterSpecs(model));
  if (params.length !== layout.totalElements) {
    throw new RangeError(`exportOnnx: ${params.length} parameters given, ${model.name} has ${layout.totalElements}`);
  }
  const tensors = layout.split(params);
  const nodes: NodeSpec[] = [];
  let current = 'input';
  const constants = new Map<string, number>();
  let layerInput = current;
  const next = ({ op, inputs, attributes, constants: scalars }: OnnxNode) => {
    const output = `${op.toLowerCase()}_${nodes.length}`;
    for (const [name, value] of Object.entries(scalars ?? {})) {
      if ((constants.get(name) ?? value) !== value) throw new Error(`exportOnnx: constant ${name} given two values`);
      constants.set(name, value);
    }
    nodes.push({
      op,
      inputs: [current, ...inputs.map((i) => (i === LAYER_INPUT ? layerInput : i))],
      output,
      attributes,
    });
    current = output;
  };
  const channels = model.input[0];
  const folded = options.normalization && {
    mean: perChannel(options.normalization.mean, channels, 'mean'),
    std: perChannel(options.normalization.std, channels, 'std'),
  };
  if (folded) {
    next({ op: 'Sub', inputs: ['input_mean'] });
    next({ op: 'Div', inputs: ['input_std'] });
  }
  for (const layer of resolveLayers(model)) {
    layerInput = current;
    for (const node of layerDefinition(layer.spec.kind).onnx(layer)) next(node);
  }
  next({ op: 'LogSoftmax', inputs: [], attributes: [{ name: 'axis', int: 1 }] });
  nodes[nodes.length - 1].output = 'log_probs';

  const w = new Writer();
  w.int(1, IR_VERSION);
  w.string(2, 'webgpu-digits');
  if (producerVersion) w.string(3, producerVersion);
  w.message(7, (g) => {
    nodes.forEach((node, i) => writeNode(g, node, i));
    g.string(2, model.name);
    // Only what a node reads: batch norm's num_batches_tracked has no place in inference.
    const read = new Set(nodes.flatMap((node) => node.inputs));
    for (const slot of layout.slots.filter((s) => read.has(s.name))) {
      g.message(5, (t) => {
        for (const d of slot.shape) t.int(1, d);
        t.int(2, FLOAT);
        t.string(8, slot.name);
        t.bytes(9, floatBytes(tensors.get(slot.name)!));
      });
    }
    for (const [name, value] of constants) {
      g.message(5, (t) => t.int(2, FLOAT).string(8, name).bytes(9, floatBytes(Float32Array.of(value))));
    }
    if (folded) {
      for (const [name, values] of [['input_mean', folded.mean], ['input_std', folded.std]] as const) {
        g.message(5, (t) => {
          for (const d of [1, channels, 1, 1]) t.int(1, d);
          t.int(2, FLOAT).string(8, name).bytes(9, floatBytes(Float32Array.from(values)));
        });
      }
    }
    writeValueInfo(g, 11, 'input', ['batch', ...model.input]);
    writeValueInfo(g, 12, 'log_probs', ['batch', model.classes]);
  });
  w.message(8, (o) => o.string(1, '').int(2, ONNX_OPSET));
  if (folded) {
    const input = `float32 [batch, ${model.input.join(', ')}]: pixel / 255 in [0, 1], RGB planes for 3 channels; ` +
      `the graph subtracts input_mean ${JSON.stringify(folded.mean)} and divides by input_std ` +
      `${JSON.stringify(folded.std)} per channel`;
    for (
      const [key, value] of [
        [ONNX_INPUT_KEY, input],
        ['webgpu_digits.normalization', JSON.stringify(folded)],
      ]
    ) w.message(14, (entry) => entry.string(1, key).string(2, value));
  }
  return w.finish();
}

/** One value per input channel: a single recorded value serves every channel. */
function perChannel(values: readonly number[], channels: number, what: string): number[] {
  if (values.length === channels) return [...values];
  if (values.length === 1) return new Array(channels).fill(values[0]);
  throw new RangeError(`exportOnnx: ${values.length} normalization ${what} values for ${channels} input channels`);
}
