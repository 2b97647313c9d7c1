// batchnorm_backward_input: the input gradient of batch norm in training mode (the batch statistics
// depend on the input), with M = BATCH * SPATIAL values per channel:
//   dx = weight * invstd * (dy - grad_bias / M - xhat * grad_weight / M)
// bindings: 0 input: array<f32> [BATCH, CHANNELS, SPATIAL] (read), 1 grad_output: like input (read),
//           2 stats: array<f32> [2, CHANNELS] (read), 3 weight: array<f32> [CHANNELS] (read),
//           4 param_grads: array<f32> (read: grad_weight at 0, grad_bias at BIAS_OFFSET),
//           5 grad_input: like input (read_write)
// dispatch: ceil(COUNT / (WG * PER)) workgroups, split over x and y; PER consecutive elements each.

override BATCH: u32;
override CHANNELS: u32;
override SPATIAL: u32;
override BIAS_OFFSET: u32;
override EPS: f32 = 1e-5;
override PER: u32 = 4;
override WG: u32 = 64;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read> grad_output: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> param_grads: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad_input: array<f32>;

fn backward_one(i: u32) {
  let c = (i / SPATIAL) % CHANNELS;
  let m = f32(BATCH * SPATIAL);
  let invstd = 1.0 / sqrt(stats[CHANNELS + c] + EPS);
  let xhat = (input[i] - stats[c]) * invstd;
  grad_input[i] = weight[c] * invstd * (grad_output[i] - param_grads[BIAS_OFFSET + c] / m - xhat * param_grads[c] / m);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let count = BATCH * CHANNELS * SPATIAL;
  let first = ((wid.x + wid.y * nwg.x) * WG + lid) * PER;
  for (var i = first; i < min(first + PER, count); i++) { backward_one(i); }
}
