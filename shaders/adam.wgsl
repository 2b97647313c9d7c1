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
// Entry point main_packed updates a weight matrix [ROWS, COLS] the same way, element by element, and
// also writes it packed for the texture products (shaders/pack_texture.wgsl's layout), both as it is
// (5 packed: texel (q, r) = W[r, 4q .. 4q+3]) and transposed (6 packed_t: texel (p, c) = W[4p .. 4p+3, c]),
// so that training runs a linear layer's forward and input gradient from textures without repacking
// its weights every step. Each invocation takes a 4x4 block; ROWS and COLS must be multiples of 4.
// bindings 0-4 as above (COUNT unused), 5 packed, 6 packed_t: texture_storage_2d<rgba32float, write>
// dispatch: ceil(ROWS * COLS / 16 / WG) workgroups, split over x and y.

struct Step {
  step_size: f32,
  bias_correction2_sqrt: f32,
  unused0: f32,
  unused1: f32,
}

override COUNT: u32;
override BETA1: f32;
override BETA2: f32;
override ONE_MINUS_BETA1: f32;
override ONE_MINUS_BETA2: f32;
override EPS: f32;
override WEIGHT_DECAY: f32 = 0.0;
override WG: u32 = 256;
override ROWS: u32 = 4u; // main_packed's matrix
override COLS: u32 = 4u;

@group(0) @binding(0) var<uniform> per_step: Step;
@group(0) @binding(1) var<storage, read_write> param: array<vec4f>;
@group(0) @binding(2) var<storage, read> grad: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> m: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> v: array<vec4f>;
@group(0) @binding(5) var packed: texture_storage_2d<rgba32float, write>;
@group(0) @binding(6) var packed_t: texture_storage_2d<rgba32float, write>;

/** Updates vec4 i of param, m and v in place; returns the new parameters. */
fn update(i: u32) -> vec4f {
  let p = param[i];
  var g = grad[i];
  // Skipped entirely at zero, as PyTorch does, so an infinite parameter does not turn g into NaN.
  if (WEIGHT_DECAY != 0.0) { g = g + WEIGHT_DECAY * p; }
  let m_new = BETA1 * m[i] + ONE_MINUS_BETA1 * g;
  let v_new = BETA2 * v[i] + ONE_MINUS_BETA2 * g * g;
  m[i] = m_new;
  v[i] = v_new;
  let denom = sqrt(v_new) / per_step.bias_correction2_sqrt + EPS;
  let updated = p - per_step.step_size * m_new / denom;
  param[i] = updated;
  return updated;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= COUNT / 4u) { return; }
  update(i);
}

@compute @workgroup_size(WG)
fn main_packed(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  let block = (wid.x + wid.y * nwg.x) * WG + lid;
  let q4 = COLS / 4u;
  if (block >= (ROWS / 4u) * q4) { return; }
  // Block (p, q): rows 4p .. 4p+3, columns 4q .. 4q+3; row r's 4 columns are vec4 r * COLS/4 + q.
  let q = block % q4;
  let p = block / q4;
  let r0 = 4u * p;
  let w0 = update(r0 * q4 + q);
  let w1 = update((r0 + 1u) * q4 + q);
  let w2 = update((r0 + 2u) * q4 + q);
  let w3 = update((r0 + 3u) * q4 + q);
  textureStore(packed, vec2u(q, r0), w0);
  textureStore(packed, vec2u(q, r0 + 1u), w1);
  textureStore(packed, vec2u(q, r0 + 2u), w2);
  textureStore(packed, vec2u(q, r0 + 3u), w3);
  let c0 = 4u * q;
  textureStore(packed_t, vec2u(p, c0), vec4f(w0.x, w1.x, w2.x, w3.x));
  textureStore(packed_t, vec2u(p, c0 + 1u), vec4f(w0.y, w1.y, w2.y, w3.y));
  textureStore(packed_t, vec2u(p, c0 + 2u), vec4f(w0.z, w1.z, w2.z, w3.z));
  textureStore(packed_t, vec2u(p, c0 + 3u), vec4f(w0.w, w1.w, w2.w, w3.w));
}
