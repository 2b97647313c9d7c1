// relu: max(x, 0), standalone; after a conv2d, linear or batch norm it runs inside that layer's forward.
import { reluBackwardReference, reluForwardReference } from '../../reference/relu.ts';
import { reluForward } from '../../kernels/relu.ts';
import { shapeSize } from '../../util/shapes.ts';
import { type LayerDefinition, onBuffers, type UntiledNode, untiledNode } from './types.ts';

export interface ReluLayer {
  kind: 'relu';
}

/** The variants it offers; the first is the default. */
const VARIANTS = ['standalone'] as const;

export type ReluNode = UntiledNode<'relu', typeof VARIANTS[number]>;

export const relu: LayerDefinition<ReluLayer, ReluNode> = {
  kind: 'relu',
  summary: '`relu`',
  fields: {},
  resolve: (_spec, inShape) => ({ outShape: [...inShape], params: [] }),
  absorbsRelu: false,
  variants: VARIANTS,
  planning: { outputIsRelu: true },
  referenceForward(_layer, input) {
    let kinkMargin = Infinity;
    for (const v of input) if (v !== 0) kinkMargin = Math.min(kinkMargin, Math.abs(v));
    return { output: reluForwardReference(input), kinkMargin };
  },
  referenceBackward: (_layer, _input, forward, gradOutput) => reluBackwardReference(forward.output, gradOutput),
  onnx: () => [{ op: 'Relu', inputs: [] }],
  pytorch: 'nn.ReLU()',
  kernels: {
    node: (_layer, draft) => untiledNode('relu', VARIANTS, draft),
    // It masks its gradient in place (network.ts's ReLU backward pass), so input and output share one gradient buffer.
    output: () => 'own-buffer-shared-gradient',
    allocate: () => ({}),
    async forward(node, { gpu, batch }) {
      const { layer } = node;
      const { input, output } = onBuffers(node);
      const count = batch * shapeSize(layer.outShape);
      return [{
        name: `${layer.name} forward`,
        role: 'forward',
        flops: count,
        bytes: 8 * count,
        dispatches: await reluForward(gpu, count, input.buffer, output.buffer),
      }];
    },
    backward: () => Promise.resolve([]),
  },
};
