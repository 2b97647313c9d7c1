// CPU references of shaders/activation_forward.wgsl and shaders/activation_backward.wgsl, in float64,
// written as PyTorch defines them (GELU with approximate='tanh').

/** The function (the shaders' FUNCTION) and leaky ReLU's negative slope (default 0.01). */
export interface ActivationOptions {
  fn: 'gelu' | 'silu' | 'leakyrelu' | 'tanh' | 'sigmoid';
  slope?: number;
}

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function value(fn: ActivationOptions['fn'], x: number, slope: number): number {
  switch (fn) {
    case 'gelu':
      return 0.5 * x * (1 + Math.tanh(GELU_C * (x + GELU_A * x ** 3)));
    case 'silu':
      return x * sigmoid(x);
    case 'leakyrelu':
      return x > 0 ? x : slope * x;
    case 'tanh':
      return Math.tanh(x);
    case 'sigmoid':
      return sigmoid(x);
  }
}

function derivative(fn: ActivationOptions['fn'], x: number, slope: number): number {
  switch (fn) {
    case 'gelu': {
      const t = Math.tanh(GELU_C * (x + GELU_A * x ** 3));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * GELU_A * x * x);
    }
    case 'silu': {
      const s = sigmoid(x);
      return s * (1 + x * (1 - s));
    }
    case 'leakyrelu':
      return x > 0 ? 1 : slope;
    case 'tanh':
      return 1 - Math.tanh(x) ** 2;
    case 'sigmoid':
      return sigmoid(x) * (1 - sigmoid(x));
  }
}

/** f(x), elementwise. */
export function activationForwardReference(options: ActivationOptions, input: ArrayLike<number>): Float64Array {
  const slope = options.slope ?? 0.01;
  return Float64Array.from(input, (x) => value(options.fn, x, slope));
}

/** d(loss)/d(input) = gradOutput · f'(input). */
export function activationBackwardReference(
  options: ActivationOptions,
  input: ArrayLike<number>,
  gradOutput: ArrayLike<number>,
): Float64Array {
  if (input.length !== gradOutput.length) {
    throw new RangeError(`activationBackwardReference: ${input.length} inputs, ${gradOutput.length} gradients`);
  }
  const slope = options.slope ?? 0.01;
  return Float64Array.from(gradOutput, (g, i) => g * derivative(options.fn, input[i], slope));
}
