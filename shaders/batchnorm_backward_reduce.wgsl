// batchnorm_backward_reduce: the parameter gradients of batch norm (training mode), per channel:
//   grad_bias[c] = sum dy,  grad_weight[c] = sum dy * xhat,  xhat = (x - mean) / sqrt(var + EPS)
// summed over (batch, spatial) in a fixed order and tree, as batchnorm_stats.wgsl: deterministic.
// bindings: 0 input: array<f32> [BATCH, CHANNELS, SPATIAL] (read), 1 grad_output: like input (read),
//           2 stats: array<f32> [2, CHANNELS] (read: batch mean, biased variance), 3 param_grads:
//           array<f32> (read_write: grad_weight at 0, grad_bias at BIAS_OFFSET; one range of the gradients)
// dispatch: CHANNELS workgroups of 64, split over x and y.

override BATCH: u32;
override CHANNELS: u32;
override SPATIAL: u32;
override BIAS_OFFSET: u32;
override EPS: f32 = 1e-5;
const WG = 64u;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read> grad_output: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> param_grads: array<f32>;

// #include "tree_sum.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let c = wid.x + wid.y * nwg.x;
  if (c >= CHANNELS) { return; }
  let mean = stats[c];
  let invstd = 1.0 / sqrt(stats[CHANNELS + c] + EPS);
  var dy_sum = 0.0;
  var dy_xhat = 0.0;
  for (var j = lid; j < BATCH * SPATIAL; j += WG) {
    let i = ((j / SPATIAL) * CHANNELS + c) * SPATIAL + j % SPATIAL;
    let dy = grad_output[i];
    dy_sum += dy;
    dy_xhat += dy * (input[i] - mean) * invstd;
  }
  let grad_bias = tree_sum(lid, dy_sum);
  let grad_weight = tree_sum(lid, dy_xhat);
  if (lid == 0u) {
    param_grads[c] = grad_weight;
    param_grads[BIAS_OFFSET + c] = grad_bias;
  }
}
