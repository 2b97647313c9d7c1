// maxpool2d: PyTorch's MaxPool2d (square window, no padding, floor mode).
import { maxPool2dBackwardReference, maxPool2dForwardReference } from '../../reference/maxpool2d.ts';
import {
  maxPool2dOutputSize,
  type MaxPool2dShape,
  maxPool2dShapeOf,
  needsPlanes,
  shapeSize,
} from '../../util/shapes.ts';
import { packChannelsLast } from '../../kernels/layout.ts';
import { maxPool2dBackward, maxPool2dForward } from '../../kernels/maxpool2d.ts';
import { type LayerDefinition, onBuffers, type UntiledNode, untiledNode } from './types.ts';

export interface MaxPool2dLayer {
  kind: 'maxpool2d';
  kernel: number;
  stride?: number;
}

/** The variants it offers; the first is the default. */
const VARIANTS = ['buffer', 'channels-last', 'in-conv'] as const;

export type MaxPool2dNode = UntiledNode<'maxpool2d', typeof VARIANTS[number]>;

export const maxpool2d: LayerDefinition<MaxPool2dLayer, MaxPool2dNode> = {
  kind: 'maxpool2d',
  summary: '`maxpool2d` (`kernel`, optional `stride`)',
  fields: { kernel: 'int', 'stride?': 'int' },
  resolve(spec, inShape, where) {
    const [c, h, w] = needsPlanes(inShape, where, 'maxpool2d');
    const { outH, outW } = maxPool2dOutputSize(maxPool2dShapeOf(spec, inShape, 1));
    if (outH < 1 || outW < 1) throw new Error(`${where}: pool ${spec.kernel} does not fit a ${h}x${w} input`);
    return { outShape: [c, outH, outW], params: [] };
  },
  absorbsRelu: false,
  variants: VARIANTS,
  planning: {
    // Before an implicit-GEMM convolution it packs that conv's channels-last input; a 2x2 window at
    // stride 2 after a conv that can pool as it writes is done by that conv.
    fuse(layer, _choice, site) {
      if (!site.reads(site.consumer(), 'channels-last')) return;
      return { variant: isTwoByTwo(layer.spec) && site.poolsOutput(site.neighbour(-1)) ? 'in-conv' : 'channels-last' };
    },
    layouts(variant) {
      switch (variant) {
        case 'channels-last':
          return ['nchw', 'channels-last'];
        case 'in-conv':
          return ['none', 'channels-last'];
        default:
          return ['nchw', 'nchw'];
      }
    },
    problem(layer, node, { neighbour }) {
      if (node.variant !== 'in-conv') return;
      if (neighbour(-1)?.variant !== 'texture+pool') return 'needs a texture+pool convolution right before it';
      if (!isTwoByTwo(layer.spec)) return 'is done by the convolution only for 2x2 windows at stride 2';
    },
    appliesReluBackward: true,
  },
  referenceForward({ spec, inShape }, input, { batch }) {
    const shape = maxPool2dShapeOf(spec, inShape, batch);
    const { output, argmax } = maxPool2dForwardReference(shape, input);
    return { output, argmax, kinkMargin: smallestPoolGap(shape, input, output) };
  },
  referenceBackward({ spec, inShape }, _input, forward, gradOutput, { batch }) {
    if (!forward.argmax) throw new Error('maxpool2d reference backward: its forward kept no argmax');
    return maxPool2dBackwardReference(maxPool2dShapeOf(spec, inShape, batch), gradOutput, forward.argmax);
  },
  onnx({ spec }) {
    const stride = spec.stride ?? spec.kernel;
    return [{
      op: 'MaxPool',
      inputs: [],
      attributes: [{ name: 'kernel_shape', ints: [spec.kernel, spec.kernel] }, {
        name: 'strides',
        ints: [stride, stride],
      }],
    }];
  },
  pytorch: "nn.MaxPool2d(layer['kernel'], layer.get('stride', layer['kernel']))",
  kernels: {
    node: (_layer, draft) => untiledNode('maxpool2d', VARIANTS, draft),
    output: () => 'own',
    allocate: ({ plan, layer }, { maxBatch, f32 }) =>
      plan.variant === 'buffer' ? { argmax: f32(`${plan.name}.argmax`, maxBatch * shapeSize(layer.outShape)) } : {},
    async forward(node, context) {
      const { layer, plan: p, input, output, argmax } = node;
      const { gpu, batch } = context;
      const shape = maxPool2dShapeOf(layer.spec, layer.inShape, batch);
      const inCount = batch * shapeSize(layer.inShape);
      const outCount = batch * shapeSize(layer.outShape);
      // In-conv: the convolution before pooled into this node's output.
      if (p.variant === 'in-conv') return [];
      if (output.layout === 'channels-last' && input.layout === 'nchw') {
        // Packs its output for an implicit-GEMM convolution.
        const { channels, height, width, kernel: pool, stride } = shape;
        return [{
          name: `${layer.name} forward (channels-last)`,
          role: 'forward',
          flops: inCount,
          bytes: 4 * (inCount + outCount),
          dispatches: [
            await packChannelsLast(
              gpu,
              { items: batch, channels, height, width, pool, stride },
              input.buffer,
              output.texture,
            ),
          ],
        }];
      }
      const buffers = onBuffers(node);
      if (!argmax) throw new Error(`${p.name}: no argmax buffer allocated`);
      return [{
        name: `${layer.name} forward`,
        role: 'forward',
        flops: inCount,
        bytes: 4 * (inCount + 2 * outCount),
        dispatches: await maxPool2dForward(gpu, shape, buffers.input.buffer, buffers.output.buffer, argmax),
      }];
    },
    async backward(node, { gpu, batch, reluMask }) {
      const { layer, plan: p, argmax } = node;
      const { input, output } = onBuffers(node);
      if (!input.grad || !output.grad) return [];
      if (!argmax) throw new Error(`${p.name}: max-pool backward needs the argmax of its buffer variant`);
      const inCount = batch * shapeSize(layer.inShape);
      const outCount = batch * shapeSize(layer.outShape);
      return [{
        name: `${layer.name} backward${reluMask ? '+relu' : ''}`,
        role: 'backward',
        flops: inCount,
        bytes: 4 * (inCount + 2 * outCount),
        dispatches: await maxPool2dBackward(
          gpu,
          maxPool2dShapeOf(layer.spec, layer.inShape, batch),
          output.grad,
          argmax,
          input.grad,
          { reluOutput: reluMask },
        ),
      }];
    },
  },
};

function isTwoByTwo(spec: MaxPool2dLayer): boolean {
  return spec.kernel === 2 && (spec.stride ?? 2) === 2;
}

/** The smallest gap between each window's max and the largest smaller element (Infinity if none). */
function smallestPoolGap(shape: MaxPool2dShape, input: ArrayLike<number>, output: ArrayLike<number>): number {
  const { batch, channels, height: H, width: W, kernel: K } = shape;
  const S = shape.stride ?? K;
  const { outH, outW } = maxPool2dOutputSize(shape);
  let smallest = Infinity;
  for (let plane = 0, o = 0; plane < batch * channels; plane++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++, o++) {
        for (let ky = 0; ky < K; ky++) {
          for (let kx = 0; kx < K; kx++) {
            const gap = output[o] - input[plane * H * W + (oy * S + ky) * W + ox * S + kx];
            if (gap > 0) smallest = Math.min(smallest, gap);
          }
        }
      }
    }
  }
  return smallest;
}
