// The smooth activations and their derivatives, by FUNCTION (see activation_forward.wgsl).
// sigmoid is written 1 / (1 + exp(-x)) and tanh through it, which stay finite for any f32 x (exp
// overflowing to +inf gives 0 or 1, never NaN): WGSL's tanh may return NaN for large |x|.

const GELU_C: f32 = 0.7978845608028654; // sqrt(2 / pi)
const GELU_A: f32 = 0.044715;

fn sigmoid(x: f32) -> f32 {
  return 1.0 / (1.0 + exp(-x));
}

fn tanhStable(x: f32) -> f32 {
  return 2.0 * sigmoid(2.0 * x) - 1.0;
}

fn activation(x: f32) -> f32 {
  switch FUNCTION {
    case 0u: { return 0.5 * x * (1.0 + tanhStable(GELU_C * (x + GELU_A * x * x * x))); }
    case 1u: { return x * sigmoid(x); }
    case 2u: { return select(x, SLOPE * x, x < 0.0); }
    case 3u: { return tanhStable(x); }
    default: { return sigmoid(x); }
  }
}

fn activationDerivative(x: f32) -> f32 {
  switch FUNCTION {
    case 0u: {
      let t = tanhStable(GELU_C * (x + GELU_A * x * x * x));
      return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_A * x * x);
    }
    case 1u: {
      let s = sigmoid(x);
      return s * (1.0 + x * (1.0 - s));
    }
    case 2u: { return select(SLOPE, 1.0, x > 0.0); }
    case 3u: {
      let t = tanhStable(x);
      return 1.0 - t * t;
    }
    default: {
      let s = sigmoid(x);
      return s * (1.0 - s);
    }
  }
}
