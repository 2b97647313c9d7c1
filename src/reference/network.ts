// CPU reference of a whole model, forward and backward, in float64, built only from the per-kernel
// references: the source of truth for the GPU Network's parameter gradients.
import { normalizeReference } from './normalize.ts';
import { conv2dBackwardInputReference, conv2dBackwardWeightReference, conv2dForwardReference } from './conv2d.ts';
import { linearBackwardReference, linearForwardReference } from './linear.ts';
import { maxPool2dBackwardReference, maxPool2dForwardReference } from './maxpool2d.ts';
import { reluBackwardReference, reluForwardReference } from './relu.ts';
import { softmaxCrossEntropyReference } from './softmax_cross_entropy.ts';
import { avgPool2dBackwardReference, avgPool2dForwardReference } from './avgpool2d.ts';
import {
  batchNormBackwardReference,
  batchNormForwardReference,
  type BatchNormShape,
  batchNormStatsReference,
} from './batchnorm.ts';
import { dropoutApplyReference } from './dropout.ts';
import type { Conv2dShape } from '../util/shapes.ts';
import { type AvgPool2dShape, maxPool2dOutputSize, type MaxPool2dShape } from '../util/shapes.ts';
import { type ModelSpec, type ResolvedLayer, resolveLayers, shapeSize } from '../nn/spec.ts';

export interface NetworkReferenceResult {
  logits: Float64Array;
  /** Mean cross-entropy over the batch. */
  loss: number;
  /** d(mean loss)/d(parameter), by state_dict name. */
  gradients: Map<string, Float64Array>;
  /**
   * How close the forward came to a kink: the smallest nonzero |input| of a ReLU, and the smallest gap
   * between a max-pool window's max and a smaller element. Below float32's rounding (~1e-6 of the
   * values), the GPU may take the other side, and its gradients then differ from these legitimately.
   */
  kinkMargin: number;
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

type Conv = Extract<ResolvedLayer['spec'], { kind: 'conv2d' }>;
type Pool = Extract<ResolvedLayer['spec'], { kind: 'maxpool2d' }>;

function convShape(layer: ResolvedLayer, batch: number): Conv2dShape {
  const spec = layer.spec as Conv;
  const [inChannels, height, width] = layer.inShape;
  return {
    batch,
    inChannels,
    height,
    width,
    outChannels: spec.outChannels,
    kernelH: spec.kernel,
    kernelW: spec.kernel,
    stride: spec.stride ?? 1,
    padding: spec.padding ?? 0,
  };
}

function poolShape(layer: ResolvedLayer, batch: number): MaxPool2dShape {
  const spec = layer.spec as Pool;
  const [channels, height, width] = layer.inShape;
  return { batch, channels, height, width, kernel: spec.kernel, stride: spec.stride ?? spec.kernel };
}

function batchNormShape(layer: ResolvedLayer, batch: number): BatchNormShape {
  const spec = layer.spec as Extract<ResolvedLayer['spec'], { kind: 'batchnorm2d' | 'batchnorm1d' }>;
  return {
    batch,
    channels: layer.inShape[0],
    spatial: shapeSize(layer.inShape.slice(1)),
    eps: spec.eps,
    momentum: spec.momentum,
  };
}

function avgPoolShape(layer: ResolvedLayer, batch: number): AvgPool2dShape {
  const spec = layer.spec as Extract<ResolvedLayer['spec'], { kind: 'avgpool2d' }>;
  const [channels, height, width] = layer.inShape;
  const kernel = spec.kernel ?? height;
  return { batch, channels, height, width, kernel, stride: spec.stride ?? kernel };
}

export interface NetworkReferenceOptions {
  /** Dropout masks (scale or 0 per element) by layer index; a dropout layer without one is the identity (evaluation). */
  dropoutMasks?: ReadonlyMap<number, ArrayLike<number>>;
  /**
   * Applied to every tensor a float32 network stores between layers (each layer's output and input
   * gradient, the normalized input and the logits' gradient): a test nudges them by float32's rounding
   * to measure how far that alone moves the gradients of a given batch.
   */
  perturb?: (values: Float64Array) => Float64Array;
}

/**
 * One forward and backward pass of `model` on uint8 `pixels` (batch × input size) with `labels`, in
 * training mode (batch norm normalizes with the batch's statistics). `params` maps state_dict names to values.
 */
export function networkReference(
  model: ModelSpec,
  params: ReadonlyMap<string, ArrayLike<number>>,
  pixels: Uint8Array,
  labels: ArrayLike<number>,
  options: NetworkReferenceOptions = {},
): NetworkReferenceResult {
  const batch = labels.length;
  const layers = resolveLayers(model);
  const p = (name: string) => {
    const value = params.get(name);
    if (!value) throw new Error(`networkReference: no parameter ${name}`);
    return value;
  };
  // Forward, keeping every layer's input (activations[i] is the input of layer i).
  const stored = options.perturb ?? ((values: Float64Array) => values);
  const activations: Float64Array[] = [stored(normalizeReference(pixels))];
  const argmaxes = new Map<number, Uint32Array>();
  let kinkMargin = Infinity;
  layers.forEach((layer, i) => {
    const x = activations[i];
    const spec = layer.spec;
    switch (spec.kind) {
      case 'conv2d':
        activations.push(
          conv2dForwardReference(convShape(layer, batch), x, p(`${spec.name}.weight`), p(`${spec.name}.bias`)),
        );
        break;
      case 'linear':
        activations.push(
          linearForwardReference(
            { batch, inFeatures: layer.inShape[0], outFeatures: layer.outShape[0] },
            x,
            p(`${spec.name}.weight`),
            p(`${spec.name}.bias`),
          ),
        );
        break;
      case 'maxpool2d': {
        const { output, argmax } = maxPool2dForwardReference(poolShape(layer, batch), x);
        argmaxes.set(i, argmax);
        kinkMargin = Math.min(kinkMargin, smallestPoolGap(poolShape(layer, batch), x, output));
        activations.push(output);
        break;
      }
      case 'relu':
        for (const v of x) if (v !== 0) kinkMargin = Math.min(kinkMargin, Math.abs(v));
        activations.push(reluForwardReference(x));
        break;
      case 'flatten':
        activations.push(x);
        break;
      case 'batchnorm2d':
      case 'batchnorm1d': {
        const shape = batchNormShape(layer, batch);
        const { mean, variance } = batchNormStatsReference(shape, x);
        activations.push(
          batchNormForwardReference(shape, x, mean, variance, p(`${spec.name}.weight`), p(`${spec.name}.bias`)),
        );
        break;
      }
      case 'dropout': {
        const mask = options.dropoutMasks?.get(i);
        activations.push(mask ? dropoutApplyReference(x, mask) : x);
        break;
      }
      case 'avgpool2d':
        activations.push(avgPool2dForwardReference(avgPoolShape(layer, batch), x));
        break;
    }
    if (spec.kind !== 'flatten') activations[i + 1] = stored(activations[i + 1]);
  });
  const logits = activations[layers.length];
  const { gradLogits, sampleLoss } = softmaxCrossEntropyReference({ batch, classes: model.classes }, logits, labels);
  const loss = sampleLoss.reduce((a, b) => a + b, 0) / batch;

  // Backward.
  const gradients = new Map<string, Float64Array>();
  let grad = stored(gradLogits);
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i];
    const spec = layer.spec;
    const x = activations[i];
    switch (spec.kind) {
      case 'conv2d': {
        const shape = convShape(layer, batch);
        const { gradWeight, gradBias } = conv2dBackwardWeightReference(shape, x, grad);
        gradients.set(`${spec.name}.weight`, gradWeight);
        gradients.set(`${spec.name}.bias`, gradBias);
        grad = conv2dBackwardInputReference(shape, grad, p(`${spec.name}.weight`));
        break;
      }
      case 'linear': {
        const shape = { batch, inFeatures: layer.inShape[0], outFeatures: layer.outShape[0] };
        const { gradInput, gradWeight, gradBias } = linearBackwardReference(shape, x, p(`${spec.name}.weight`), grad);
        gradients.set(`${spec.name}.weight`, gradWeight);
        gradients.set(`${spec.name}.bias`, gradBias);
        grad = gradInput;
        break;
      }
      case 'maxpool2d':
        grad = maxPool2dBackwardReference(poolShape(layer, batch), grad, argmaxes.get(i)!);
        break;
      case 'relu':
        grad = reluBackwardReference(activations[i + 1], grad);
        break;
      case 'flatten':
        break;
      case 'batchnorm2d':
      case 'batchnorm1d': {
        const { gradInput, gradWeight, gradBias } = batchNormBackwardReference(
          batchNormShape(layer, batch),
          x,
          p(`${spec.name}.weight`),
          grad,
        );
        gradients.set(`${spec.name}.weight`, gradWeight);
        gradients.set(`${spec.name}.bias`, gradBias);
        grad = gradInput;
        break;
      }
      case 'dropout': {
        const mask = options.dropoutMasks?.get(i);
        if (mask) grad = dropoutApplyReference(grad, mask);
        break;
      }
      case 'avgpool2d':
        grad = avgPool2dBackwardReference(avgPoolShape(layer, batch), grad);
        break;
    }
    if (spec.kind !== 'flatten') grad = stored(grad);
  }
  return { logits, loss, gradients, kinkMargin };
}
