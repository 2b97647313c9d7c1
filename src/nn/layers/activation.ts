// The smooth activations, one kernel family (shaders/activation_*.wgsl): gelu (PyTorch's
// approximate='tanh'), silu, leakyrelu (`slope`, default 0.01), tanh and sigmoid. Each keeps its
// input's shape and has no parameters; its backward needs its input.
import { type Activation, activationBackward, activationForward } from '../../kernels/activation.ts';
import { activationBackwardReference, activationForwardReference } from '../../reference/activation.ts';
import { shapeSize } from '../../util/shapes.ts';
import { LAYER_INPUT, type LayerDefinition, onBuffers, type OnnxNode, type UntiledNode, untiledNode } from './types.ts';

export interface GeluLayer {
  kind: 'gelu';
}
export interface SiluLayer {
  kind: 'silu';
}
export interface LeakyReluLayer {
  kind: 'leakyrelu';
  slope?: number;
}
export interface TanhLayer {
  kind: 'tanh';
}
export interface SigmoidLayer {
  kind: 'sigmoid';
}

type ActivationLayer = GeluLayer | SiluLayer | LeakyReluLayer | TanhLayer | SigmoidLayer;

const slopeOf = (spec: ActivationLayer) => ('slope' in spec ? spec.slope : undefined);

/** 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) from opset 13's operators. */
const GELU_ONNX: OnnxNode[] = [
  { op: 'Mul', inputs: [LAYER_INPUT] },
  { op: 'Mul', inputs: [LAYER_INPUT] },
  { op: 'Mul', inputs: ['gelu.cubic'], constants: { 'gelu.cubic': 0.044715 } },
  { op: 'Add', inputs: [LAYER_INPUT] },
  { op: 'Mul', inputs: ['gelu.scale'], constants: { 'gelu.scale': Math.sqrt(2 / Math.PI) } },
  { op: 'Tanh', inputs: [] },
  { op: 'Add', inputs: ['gelu.one'], constants: { 'gelu.one': 1 } },
  { op: 'Mul', inputs: [LAYER_INPUT] },
  { op: 'Mul', inputs: ['gelu.half'], constants: { 'gelu.half': 0.5 } },
];

function activation<S extends ActivationLayer>(
  kind: S['kind'] & Activation,
  summary: string,
  onnx: (spec: S) => OnnxNode[],
  pytorch: string,
): LayerDefinition<S, UntiledNode<S['kind'], 'buffer'>> {
  return {
    kind,
    summary,
    fields: kind === 'leakyrelu' ? { 'slope?': 'number' } : {},
    resolve: (_spec, inShape) => ({ outShape: [...inShape], params: [] }),
    absorbsRelu: false,
    variants: ['buffer'],
    planning: {},
    referenceForward({ spec }, input) {
      // Only leaky ReLU has a kink (at 0).
      let kinkMargin = Infinity;
      if (kind === 'leakyrelu') { for (const v of input) if (v !== 0) kinkMargin = Math.min(kinkMargin, Math.abs(v)); }
      return { output: activationForwardReference({ fn: kind, slope: slopeOf(spec) }, input), kinkMargin };
    },
    referenceBackward: ({ spec }, input, _forward, gradOutput) =>
      activationBackwardReference({ fn: kind, slope: slopeOf(spec) }, input, gradOutput),
    onnx: ({ spec }) => onnx(spec),
    pytorch,
    kernels: {
      node: (_layer, draft) => untiledNode(kind, ['buffer'], draft),
      output: () => 'own',
      allocate: () => ({}),
      async forward(node, { gpu, batch }) {
        const { layer } = node;
        const { input, output } = onBuffers(node);
        const count = batch * shapeSize(layer.outShape);
        return [{
          name: `${layer.name} forward`,
          role: 'forward',
          flops: 20 * count,
          bytes: 8 * count,
          dispatches: await activationForward(
            gpu,
            count,
            { fn: kind, slope: slopeOf(layer.spec) },
            input.buffer,
            output.buffer,
          ),
        }];
      },
      async backward(node, { gpu, batch }) {
        const { layer } = node;
        const { input, output } = onBuffers(node);
        if (!input.grad || !output.grad) return [];
        const count = batch * shapeSize(layer.outShape);
        return [{
          name: `${layer.name} backward`,
          role: 'backward',
          flops: 25 * count,
          bytes: 12 * count,
          dispatches: await activationBackward(
            gpu,
            count,
            { fn: kind, slope: slopeOf(layer.spec) },
            input.buffer,
            output.grad,
            input.grad,
          ),
        }];
      },
    },
  };
}

export const gelu = activation<GeluLayer>(
  'gelu',
  "`gelu` (PyTorch's approximate='tanh')",
  () => GELU_ONNX,
  "nn.GELU(approximate='tanh')",
);
export const silu = activation<SiluLayer>(
  'silu',
  '`silu`',
  () => [{ op: 'Sigmoid', inputs: [] }, { op: 'Mul', inputs: [LAYER_INPUT] }],
  'nn.SiLU()',
);
export const leakyrelu = activation<LeakyReluLayer>(
  'leakyrelu',
  '`leakyrelu` (optional `slope`, default 0.01)',
  (spec) => [{ op: 'LeakyRelu', inputs: [], attributes: [{ name: 'alpha', float: spec.slope ?? 0.01 }] }],
  "nn.LeakyReLU(layer.get('slope', 0.01))",
);
export const tanh = activation<TanhLayer>('tanh', '`tanh`', () => [{ op: 'Tanh', inputs: [] }], 'nn.Tanh()');
export const sigmoid = activation<SigmoidLayer>(
  'sigmoid',
  '`sigmoid`',
  () => [{ op: 'Sigmoid', inputs: [] }],
  'nn.Sigmoid()',
);
