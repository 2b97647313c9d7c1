// adam: one step of torch.optim.Adam (PyTorch 1.13, amsgrad off), in place, in the same f32 operation
// order as PyTorch's single-tensor implementation:
//   g = grad (+ WEIGHT_DECAY * param when WEIGHT_DECAY != 0)
//   m = BETA1 * m + ONE_MINUS_BETA1 * g;  v = BETA2 * v + ONE_MINUS_BETA2 * g * g
//   param = param - step_size * m / (sqrt(v) / bias_correction2_sqrt + EPS)
// step_size = lr / (1 - beta1^t) and bias_correction2_sqrt = sqrt(1 - beta2^t) change every step, so the
// host computes them in float64 and writes them to the uniform buffer; 1 - beta is likewise computed on the
// host, as PyTorch does, rather than rounded here.
// bindings: 0 per_step: Step (uniform, 16 bytes), 1 param: array<vec4f> (read_write, COUNT/4),
//           2 grad: array<vec4f> (read, COUNT/4), 3 m: array<vec4f> (read_write, COUNT/4),
//           4 v: array<vec4f> (read_write, COUNT/4)
// COUNT must be a multiple of 4: vec4 loads make this memory-bound kernel about 2x faster on lavapipe.
// dispatch: ceil(COUNT / 4 / WG) workgroups, split over x and y (see workgroupGrid).

struct Step {
  step_size: f32,
  bias_correction2_sqrt: f32,
  /** AdamW: 1 - lr * weight_decay, the decoupled decay applied to the parameter first. */
  decay: f32,
  unused1: f32,
}

override COUNT: u32;
override BETA1: f32;
override BETA2: f32;
override ONE_MINUS_BETA1: f32;
override ONE_MINUS_BETA2: f32;
override EPS: f32;
override WEIGHT_DECAY: f32 = 0.0;
// torch.optim.AdamW: param *= 1 - lr * weight_decay before the Adam step, and no decay in the gradient.
override DECOUPLED: bool = false;
override WG: u32 = 256;

@group(0) @binding(0) var<uniform> per_step: Step;
@group(0) @binding(1) var<storage, read_write> param: array<vec4f>;
@group(0) @binding(2) var<storage, read> grad: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> m: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> v: array<vec4f>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= COUNT / 4u) { return; }
  var p = param[i];
  var g = grad[i];
  if (DECOUPLED) {
    p = p * per_step.decay;
  } else if (WEIGHT_DECAY != 0.0) {
    // Skipped entirely at zero, as PyTorch does, so an infinite parameter does not turn g into NaN.
    g = g + WEIGHT_DECAY * p;
  }
  let m_new = BETA1 * m[i] + ONE_MINUS_BETA1 * g;
  let v_new = BETA2 * v[i] + ONE_MINUS_BETA2 * g * g;
  m[i] = m_new;
  v[i] = v_new;
  let denom = sqrt(v_new) / per_step.bias_correction2_sqrt + EPS;
  param[i] = p - per_step.step_size * m_new / denom;
}
