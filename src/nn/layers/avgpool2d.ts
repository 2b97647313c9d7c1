// avgpool2d: PyTorch's AvgPool2d(kernel, stride); without a kernel, global average pooling (output [C, 1, 1]).
import { avgPool2dBackwardReference, avgPool2dForwardReference } from '../../reference/avgpool2d.ts';
import { avgPool2dOutputSize, avgPool2dShapeOf, needsPlanes, shapeSize } from '../../util/shapes.ts';
import { avgPool2dBackward, avgPool2dForward } from '../../kernels/avgpool2d.ts';
import { type LayerDefinition, onBuffers, type UntiledNode, untiledNode } from './types.ts';

export interface AvgPool2dLayer {
  kind: 'avgpool2d';
  kernel?: number;
  stride?: number;
}

/** The variants it offers; the first is the default. */
const VARIANTS = ['buffer'] as const;

export type AvgPool2dNode = UntiledNode<'avgpool2d', typeof VARIANTS[number]>;

export const avgpool2d: LayerDefinition<AvgPool2dLayer, AvgPool2dNode> = {
  kind: 'avgpool2d',
  summary: '`avgpool2d` (optional `kernel`, `stride`; no `kernel`: global average pooling)',
  fields: { 'kernel?': 'int', 'stride?': 'int' },
  resolve(spec, inShape, where) {
    const [c, h, w] = needsPlanes(inShape, where, 'avgpool2d');
    if (spec.kernel === undefined && h !== w) {
      throw new Error(`${where}: global average pooling needs a square input, got ${h}x${w}`);
    }
    const shape = avgPool2dShapeOf(spec, inShape, 1);
    const { outH, outW } = avgPool2dOutputSize(shape);
    if (outH < 1 || outW < 1) throw new Error(`${where}: pool ${shape.kernel} does not fit a ${h}x${w} input`);
    return { outShape: [c, outH, outW], params: [] };
  },
  absorbsRelu: false,
  variants: VARIANTS,
  planning: {},
  referenceForward: ({ spec, inShape }, input, { batch }) => ({
    output: avgPool2dForwardReference(avgPool2dShapeOf(spec, inShape, batch), input),
  }),
  referenceBackward: ({ spec, inShape }, _input, _forward, gradOutput, { batch }) =>
    avgPool2dBackwardReference(avgPool2dShapeOf(spec, inShape, batch), gradOutput),
  onnx({ spec, inShape }) {
    if (spec.kernel === undefined) return [{ op: 'GlobalAveragePool', inputs: [] }];
    const { kernel, stride } = avgPool2dShapeOf(spec, inShape, 1);
    return [{
      op: 'AveragePool',
      inputs: [],
      attributes: [{ name: 'kernel_shape', ints: [kernel, kernel] }, { name: 'strides', ints: [stride, stride] }],
    }];
  },
  pytorch:
    "nn.AvgPool2d(layer['kernel'], layer.get('stride', layer['kernel'])) if 'kernel' in layer else nn.AdaptiveAvgPool2d(1)",
  kernels: {
    node: (_layer, draft) => untiledNode('avgpool2d', VARIANTS, draft),
    output: () => 'own',
    allocate: () => ({}),
    async forward(node, { gpu, batch }) {
      const { layer } = node;
      const { input, output } = onBuffers(node);
      const inCount = batch * shapeSize(layer.inShape);
      const outCount = batch * shapeSize(layer.outShape);
      return [{
        name: `${layer.name} forward`,
        role: 'forward',
        flops: inCount,
        bytes: 4 * (inCount + outCount),
        dispatches: await avgPool2dForward(
          gpu,
          avgPool2dShapeOf(layer.spec, layer.inShape, batch),
          input.buffer,
          output.buffer,
        ),
      }];
    },
    async backward(node, { gpu, batch }) {
      const { layer } = node;
      const { input, output } = onBuffers(node);
      if (!input.grad || !output.grad) return [];
      const inCount = batch * shapeSize(layer.inShape);
      const outCount = batch * shapeSize(layer.outShape);
      return [{
        name: `${layer.name} backward`,
        role: 'backward',
        flops: inCount,
        bytes: 4 * (inCount + outCount),
        dispatches: await avgPool2dBackward(
          gpu,
          avgPool2dShapeOf(layer.spec, layer.inShape, batch),
          output.grad,
          input.grad,
        ),
      }];
    },
  },
};
