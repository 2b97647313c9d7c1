// CPU reference of shaders/adam.wgsl: torch.optim.Adam's update, entirely in float64.
import type { AdamOptions } from '../util/shapes.ts';

export interface AdamState {
  param: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

/** One Adam step (1-based `step`), in place on state. */
export function adamReference(options: AdamOptions, step: number, state: AdamState, grad: ArrayLike<number>): void {
  const { lr, beta1, beta2, eps, weightDecay } = options;
  const stepSize = lr / (1 - beta1 ** step);
  const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** step);
  const { param, m, v } = state;
  for (let i = 0; i < param.length; i++) {
    // AdamW decays the parameter itself, before the step; Adam adds the decay to the gradient.
    if (options.decoupled) param[i] *= 1 - lr * weightDecay;
    const g = weightDecay !== 0 && !options.decoupled ? grad[i] + weightDecay * param[i] : grad[i];
    m[i] = beta1 * m[i] + (1 - beta1) * g;
    v[i] = beta2 * v[i] + (1 - beta2) * g * g;
    param[i] -= (stepSize * m[i]) / (Math.sqrt(v[i]) / biasCorrection2Sqrt + eps);
  }
}
