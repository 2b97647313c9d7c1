// dropout: PyTorch's Dropout(p), training only; evaluation (and ONNX) runs it as the identity.
import { dropoutApplyReference } from '../../reference/dropout.ts';
import { dropoutBackward, dropoutForward } from '../../kernels/dropout.ts';
import { shapeSize } from '../../util/shapes.ts';
import { type LayerDefinition, onBuffers, type UntiledNode, untiledNode } from './types.ts';

export interface DropoutLayer {
  kind: 'dropout';
  p: number;
}

/** The variants it offers; the first is the default. */
const VARIANTS = ['buffer'] as const;

export type DropoutNode = UntiledNode<'dropout', typeof VARIANTS[number]>;

export const dropout: LayerDefinition<DropoutLayer, DropoutNode> = {
  kind: 'dropout',
  summary: '`dropout` (`p`)',
  fields: { p: 'probability' },
  resolve: (_spec, inShape) => ({ outShape: [...inShape], params: [] }),
  absorbsRelu: false,
  variants: VARIANTS,
  planning: {},
  referenceForward(_layer, input, { dropoutMask }) {
    const mask = dropoutMask();
    return { output: mask ? dropoutApplyReference(input, mask) : input };
  },
  referenceBackward(_layer, _input, _forward, gradOutput, { dropoutMask }) {
    const mask = dropoutMask();
    return mask ? dropoutApplyReference(gradOutput, mask) : gradOutput;
  },
  onnx: () => [{ op: 'Identity', inputs: [] }],
  pytorch: "nn.Dropout(layer['p'])",
  kernels: {
    node: (_layer, draft) => untiledNode('dropout', VARIANTS, draft),
    // Evaluation's dropout is the identity: its output is its input.
    output: (training) => (training ? 'own' : 'input'),
    allocate: ({ plan, layer }, { maxBatch, training, f32 }) =>
      training ? { dropoutMask: f32(`${plan.name}.mask`, maxBatch * shapeSize(layer.outShape)) } : {},
    async forward(node, { gpu, batch, rng }) {
      const { layer, plan, dropoutMask } = node;
      // Evaluation passes its input through (no mask): nothing to record, whatever the layout.
      if (!dropoutMask) return [];
      const { input, output } = onBuffers(node);
      if (!rng) throw new Error(`${plan.name}: dropout needs the network's random-number uniforms`);
      const count = batch * shapeSize(layer.outShape);
      return [{
        name: `${layer.name} forward`,
        role: 'forward',
        flops: 50 * count,
        bytes: 12 * count,
        dispatches: await dropoutForward(
          gpu,
          count,
          { p: layer.spec.p, salt: plan.layer },
          rng,
          input.buffer,
          output.buffer,
          dropoutMask,
        ),
      }];
    },
    async backward(node, { gpu, batch }) {
      const { layer, plan, dropoutMask } = node;
      const { input, output } = onBuffers(node);
      if (!input.grad || !output.grad) return [];
      if (!dropoutMask) throw new Error(`${plan.name}: dropout's backward needs the mask of its forward`);
      const count = batch * shapeSize(layer.outShape);
      return [{
        name: `${layer.name} backward`,
        role: 'backward',
        flops: count,
        bytes: 12 * count,
        dispatches: await dropoutBackward(gpu, count, output.grad, dropoutMask, input.grad),
      }];
    },
  },
};
