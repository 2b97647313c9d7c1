// CPU reference of a whole model, forward and backward, in float64, built only from the per-kernel
// references: the source of truth for the GPU Network's parameter gradients.
import { normalizeReference } from './normalize.ts';
import { softmaxCrossEntropyReference } from './softmax_cross_entropy.ts';
import { layerDefinition, type ReferenceContext, type ReferenceForward } from '../nn/layers/index.ts';
import { type ModelSpec, resolveLayers } from '../nn/spec.ts';

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

export interface NetworkReferenceOptions {
  /** Dropout masks (scale or 0 per element) by layer index; a dropout layer without one is the identity (evaluation). */
  dropoutMasks?: ReadonlyMap<number, ArrayLike<number>>;
  /**
   * Applied to every tensor a float32 network stores between layers (each layer's output and input
   * gradient, the normalized input and the logits' gradient): a test nudges them by float32's rounding
   * to measure how far that alone moves the gradients of a given batch.
   */
  perturb?: (values: Float64Array) => Float64Array;
  /** Evaluation: batch norm normalizes with its running statistics, and there is no backward (no gradients). */
  evaluation?: boolean;
}

/**
 * One forward and backward pass of `model` on uint8 `pixels` (batch × input size) with `labels`, in
 * training mode (batch norm normalizes with the batch's statistics), or with options.evaluation only the
 * forward, in evaluation mode. `params` maps state_dict names to values.
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
  const gradients = new Map<string, Float64Array>();
  const context = (index: number): ReferenceContext => ({
    batch,
    index,
    training: !options.evaluation,
    param(name) {
      const value = params.get(name);
      if (!value) throw new Error(`networkReference: no parameter ${name}`);
      return value;
    },
    setGradient: (name, gradient) => void gradients.set(name, gradient),
    dropoutMask: () => options.dropoutMasks?.get(index),
  });
  // Forward, keeping every layer's input (activations[i] is the input of layer i) and what it kept for its backward.
  const stored = options.perturb ?? ((values: Float64Array) => values);
  // A view (flatten) stores no tensor of its own.
  const storesOwn = layers.map((layer) => layerDefinition(layer.spec.kind).kernels.output(true) !== 'input');
  const activations: Float64Array[] = [stored(normalizeReference(pixels))];
  const forwards: ReferenceForward[] = [];
  let kinkMargin = Infinity;
  layers.forEach((layer, i) => {
    const forward = layerDefinition(layer.spec.kind).referenceForward(layer, activations[i], context(i));
    if (storesOwn[i]) forward.output = stored(forward.output);
    kinkMargin = Math.min(kinkMargin, forward.kinkMargin ?? Infinity);
    forwards.push(forward);
    activations.push(forward.output);
  });
  const logits = activations[layers.length];
  const { gradLogits, sampleLoss } = softmaxCrossEntropyReference({ batch, classes: model.classes }, logits, labels);
  const loss = sampleLoss.reduce((a, b) => a + b, 0) / batch;

  if (options.evaluation) return { logits, loss, gradients, kinkMargin };

  // Backward.
  let grad = stored(gradLogits);
  for (let i = layers.length - 1; i >= 0; i--) {
    grad = layerDefinition(layers[i].spec.kind).referenceBackward(
      layers[i],
      activations[i],
      forwards[i],
      grad,
      context(i),
    );
    if (storesOwn[i]) grad = stored(grad);
  }
  return { logits, loss, gradients, kinkMargin };
}
