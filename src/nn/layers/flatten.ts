// flatten: [C, H, W] to [C·H·W], a view of the same memory.
import { shapeSize } from '../../util/shapes.ts';
import type { LayerDefinition } from './types.ts';

export interface FlattenLayer {
  kind: 'flatten';
}

export const flatten: LayerDefinition<FlattenLayer> = {
  kind: 'flatten',
  summary: '`flatten`',
  fields: {},
  resolve: (_spec, inShape) => ({ outShape: [shapeSize(inShape)], params: [] }),
  absorbsRelu: false,
  variants: ['view'],
  // A view: whatever layout the node before writes is its output's too.
  planning: { layouts: (_variant, previous) => [previous, previous] },
  referenceForward: (_layer, input) => ({ output: input }),
  referenceBackward: (_layer, _input, _forward, gradOutput) => gradOutput,
  onnx: () => [{ op: 'Flatten', inputs: [], attributes: [{ name: 'axis', int: 1 }] }],
  pytorch: 'nn.Flatten()',
  kernels: {
    tiles: () => ({}),
    output: () => 'input',
    allocate: () => ({}),
    forward: () => Promise.resolve([]),
    backward: () => Promise.resolve([]),
  },
};
