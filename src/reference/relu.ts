// CPU references of shaders/relu_forward.wgsl and shaders/relu_backward.wgsl.

/** max(x, 0); NaN stays NaN, as PyTorch's relu. */
export function reluForwardReference(input: ArrayLike<number>): Float64Array {
  const out = new Float64Array(input.length);
  for (let i = 0; i < input.length; i++) out[i] = input[i] < 0 ? 0 : input[i];
  return out;
}

/** d(loss)/d(input) from the forward output and d(loss)/d(output): PyTorch's threshold_backward. */
export function reluBackwardReference(output: ArrayLike<number>, grad: ArrayLike<number>): Float64Array {
  if (output.length !== grad.length) {
    throw new RangeError(`reluBackwardReference: ${output.length} outputs, ${grad.length} gradients`);
  }
  const out = new Float64Array(grad.length);
  for (let i = 0; i < grad.length; i++) out[i] = output[i] <= 0 ? 0 : grad[i];
  return out;
}
