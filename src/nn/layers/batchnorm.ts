// batchnorm2d and batchnorm1d: PyTorch's BatchNorm2d / BatchNorm1d (affine, tracking running
// statistics; eps 1e-5 and momentum 0.1 by default). Training normalizes with the batch's statistics,
// evaluation with the running ones.
import {
  batchNormBackwardReference,
  batchNormForwardReference,
  batchNormStatsReference,
} from '../../reference/batchnorm.ts';
import { batchNormBackward, batchNormForward, batchNormStats } from '../../kernels/batchnorm.ts';
import { batchNormShapeOf, shapeSize } from '../../util/shapes.ts';
import type { ParameterLayout } from '../parameters.ts';
import type { ParameterSpec } from '../spec.ts';
import { type LayerDefinition, onBuffers, type Op, type UntiledNode, untiledNode } from './types.ts';

export interface BatchNorm2dLayer {
  kind: 'batchnorm2d';
  name: string;
  eps?: number;
  momentum?: number;
}

export interface BatchNorm1dLayer {
  kind: 'batchnorm1d';
  name: string;
  eps?: number;
  momentum?: number;
}

function batchNorm<S extends BatchNorm2dLayer | BatchNorm1dLayer>(
  kind: S['kind'],
  planes: boolean,
  module: string,
): LayerDefinition<S, UntiledNode<S['kind'], 'buffer'>> {
  return {
    kind,
    summary: `\`${kind}\` (\`name\`, optional \`eps\`, \`momentum\`)`,
    fields: { name: 'name', 'eps?': 'positive', 'momentum?': 'fraction' },
    resolve(spec, inShape, where) {
      if (inShape.length !== (planes ? 3 : 1)) {
        throw new Error(`${where}: ${kind} needs a ${planes ? '[C,H,W]' : 'flat [features]'} input, got [${inShape}]`);
      }
      const c = inShape[0];
      const buffer = (name: string, shape: number[], init: 'ones' | 'zeros'): ParameterSpec => ({
        name: `${spec.name}.${name}`,
        shape,
        fanIn: 1,
        init,
        buffer: true,
      });
      return {
        outShape: [...inShape],
        params: [
          { name: `${spec.name}.weight`, shape: [c], fanIn: 1, init: 'ones' },
          { name: `${spec.name}.bias`, shape: [c], fanIn: 1, init: 'zeros' },
          buffer('running_mean', [c], 'zeros'),
          buffer('running_var', [c], 'ones'),
          buffer('num_batches_tracked', [], 'zeros'),
        ],
      };
    },
    absorbsRelu: true,
    variants: ['buffer'],
    planning: {},
    // Training mode normalizes with the batch's statistics, evaluation with the running ones.
    referenceForward({ spec, inShape }, input, { batch, param, training }) {
      const shape = batchNormShapeOf(spec, inShape, batch);
      const { mean, variance } = training
        ? batchNormStatsReference(shape, input)
        : { mean: param(`${spec.name}.running_mean`), variance: param(`${spec.name}.running_var`) };
      return {
        output: batchNormForwardReference(
          shape,
          input,
          mean,
          variance,
          param(`${spec.name}.weight`),
          param(`${spec.name}.bias`),
        ),
      };
    },
    referenceBackward({ spec, inShape }, input, _forward, gradOutput, { batch, param, setGradient }) {
      const { gradInput, gradWeight, gradBias } = batchNormBackwardReference(
        batchNormShapeOf(spec, inShape, batch),
        input,
        param(`${spec.name}.weight`),
        gradOutput,
      );
      setGradient(`${spec.name}.weight`, gradWeight);
      setGradient(`${spec.name}.bias`, gradBias);
      return gradInput;
    },
    // Inference mode: the running statistics. PyTorch's momentum m is ONNX's 1 - m.
    onnx: ({ spec }) => [{
      op: 'BatchNormalization',
      inputs: ['weight', 'bias', 'running_mean', 'running_var'].map((t) => `${spec.name}.${t}`),
      attributes: [{ name: 'epsilon', float: spec.eps ?? 1e-5 }, {
        name: 'momentum',
        float: 1 - (spec.momentum ?? 0.1),
      }],
    }],
    pytorch: `nn.${module}(shape[0], layer.get('eps', 1e-5), layer.get('momentum', 0.1))`,
    kernels: {
      node: (_layer, draft) => untiledNode(kind, ['buffer'], draft),
      output: () => 'own',
      allocate: (
        { plan, layer },
        { training, f32 },
      ) => (training ? { batchStats: f32(`${plan.name}.batch-stats`, 2 * layer.inShape[0]) } : {}),
      async forward(node, context) {
        const { layer, plan: p, batchStats } = node;
        const { input, output } = onBuffers(node);
        const { gpu, batch } = context;
        const spec = layer.spec;
        const shape = batchNormShapeOf(spec, layer.inShape, batch);
        const inCount = batch * shapeSize(layer.inShape);
        const running = runningRange(context.layout, context.params, spec.name);
        const ops: Op[] = [];
        let stats: GPUBufferBinding | GPUBuffer = running.binding;
        let variance = running.offsets.variance;
        if (batchStats) {
          ops.push({
            name: `${layer.name} batch statistics`,
            role: 'statistics',
            flops: 3 * inCount,
            bytes: 8 * inCount,
            dispatches: await batchNormStats(
              gpu,
              shape,
              input.buffer,
              batchStats,
              runningRange(context.layout, context.params, spec.name, true).binding,
              running.offsets,
            ),
          });
          stats = batchStats;
          variance = shape.channels;
        }
        ops.push({
          name: `${layer.name} forward${p.relu ? '+relu' : ''}`,
          role: 'forward',
          flops: 4 * inCount,
          bytes: 8 * inCount,
          dispatches: await batchNormForward(
            gpu,
            shape,
            { relu: p.relu, offsets: { variance } },
            input.buffer,
            stats,
            context.param(`${spec.name}.weight`),
            context.param(`${spec.name}.bias`),
            output.buffer,
          ),
        });
        return ops;
      },
      async backward(node, context) {
        const { layer, plan: p, batchStats } = node;
        const { input, output } = onBuffers(node);
        const { gpu, batch, layout, grads } = context;
        const spec = layer.spec;
        if (!output.grad || !grads || !batchStats) {
          throw new Error(`${p.name}: batch norm's backward needs gradients and its batch statistics`);
        }
        const inCount = batch * shapeSize(layer.inShape);
        const weight = layout.slot(`${spec.name}.weight`);
        const bias = layout.slot(`${spec.name}.bias`);
        // Weight and bias gradients as one range: the kernel writes both through one binding.
        const paramGrads = {
          buffer: grads,
          offset: weight.offset * 4,
          size: (bias.offset + bias.count - weight.offset) * 4,
        };
        return [{
          name: `${layer.name} backward`,
          role: 'backward',
          flops: 8 * inCount,
          bytes: 16 * inCount,
          dispatches: await batchNormBackward(
            gpu,
            batchNormShapeOf(spec, layer.inShape, batch),
            bias.offset - weight.offset,
            input.buffer,
            output.grad,
            batchStats,
            context.param(`${spec.name}.weight`),
            paramGrads,
            input.grad ?? undefined,
          ),
        }];
      },
    },
  };
}

/**
 * A batch norm's running_mean, running_var and num_batches_tracked as one range of the parameters
 * (WebGPU lets a dispatch write a buffer through one binding only), with the offsets inside it.
 */
function runningRange(layout: ParameterLayout, params: GPUBuffer, layer: string, whole = false) {
  const mean = layout.slot(`${layer}.running_mean`);
  const variance = layout.slot(`${layer}.running_var`);
  const count = layout.slot(`${layer}.num_batches_tracked`);
  const end = whole ? count.offset + 1 : variance.offset + variance.count;
  return {
    binding: { buffer: params, offset: mean.offset * 4, size: (end - mean.offset) * 4 },
    offsets: { variance: variance.offset - mean.offset, count: count.offset - mean.offset },
  };
}

export const batchnorm2d = batchNorm<BatchNorm2dLayer>('batchnorm2d', true, 'BatchNorm2d');
export const batchnorm1d = batchNorm<BatchNorm1dLayer>('batchnorm1d', false, 'BatchNorm1d');
