// flatten: [C, H, W] to [C·H·W], a view of the same memory.
import { shapeSize } from '../../util/shapes.ts';
import { type LayerDefinition, type UntiledNode, untiledNode } from './types.ts';

export interface FlattenLayer {
  kind: 'flatten';
}

/** The variants it offers; the first is the default. */
const VARIANTS = ['view'] as const;

export type FlattenNode = UntiledNode<'flatten', typeof VARIANTS[number]>;

export const flatten: LayerDefinition<FlattenLayer, FlattenNode> = {
  kind: 'flatten',
  summary: '`flatten`',
  fields: {},
  resolve: (_spec, inShape) => ({ outShape: [shapeSize(inShape)], params: [] }),
  absorbsRelu: false,
  variants: VARIANTS,
  // A view: whatever layout the node before writes is its output's too.
  planning: { layouts: (_variant, previous) => [previous, previous] },
  referenceForward: (_layer, input) => ({ output: input }),
  referenceBackward: (_layer, _input, _forward, gradOutput) => gradOutput,
  onnx: () => [{ op: 'Flatten', inputs: [], attributes: [{ name: 'axis', int: 1 }] }],
  pytorch: 'nn.Flatten()',
  kernels: {
    node: (_layer, draft) => untiledNode('flatten', VARIANTS, draft),
    output: () => 'input',
    allocate: () => ({}),
    forward: () => Promise.resolve([]),
    backward: () => Promise.resolve([]),
  },
};
