// batchnorm_backward_input_vec4: batchnorm_backward_input.wgsl for planes of a multiple of 4 values:
// four values of one channel per step, the channel's statistics, weight and gradients loaded once for
// the four (a fifth of the gathers on lavapipe); every value by the scalar kernel's expression.
// bindings: as batchnorm_backward_input.wgsl; input, grad_output and grad_input as array<vec4f>.
// dispatch: ceil(COUNT / (4 * WG * PER)) workgroups, split over x and y.

override BATCH: u32;
override CHANNELS: u32;
override SPATIAL: u32;
override BIAS_OFFSET: u32;
override EPS: f32 = 1e-5;
override PER: u32 = 4;
override WG: u32 = 64;

@group(0) @binding(0) var<storage, read> input: array<vec4f>;
@group(0) @binding(1) var<storage, read> grad_output: array<vec4f>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> param_grads: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad_input: array<vec4f>;

fn backward_four(i: u32) {
  let c = (i / (SPATIAL / 4u)) % CHANNELS;
  let m = f32(BATCH * SPATIAL);
  let invstd = 1.0 / sqrt(stats[CHANNELS + c] + EPS);
  let xhat = (input[i] - stats[c]) * invstd;
  grad_input[i] = weight[c] * invstd * (grad_output[i] - param_grads[BIAS_OFFSET + c] / m - xhat * param_grads[c] / m);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let count = BATCH * CHANNELS * SPATIAL / 4u;
  let first = ((wid.x + wid.y * nwg.x) * WG + lid) * PER;
  for (var i = first; i < min(first + PER, count); i++) { backward_four(i); }
}
