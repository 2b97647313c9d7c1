// batchnorm_stats: per channel, the batch mean and biased variance over (batch, spatial) — two passes,
// mean first, so the variance does not cancel — and, when UPDATE_RUNNING, PyTorch's running update:
//   running_mean = (1 - MOMENTUM) * running_mean + MOMENTUM * mean
//   running_var  = (1 - MOMENTUM) * running_var  + MOMENTUM * var * M / (M - 1);  num_batches_tracked += 1
// Each invocation sums a fixed strided subset in order, then a fixed tree joins them: the same bits every run.
// bindings: 0 input: array<f32> [BATCH, CHANNELS, SPATIAL] (read), 1 stats: array<f32> [2, CHANNELS]
//           (read_write: mean, then biased variance), 2 running: array<f32> (read_write: running_mean at 0,
//           running_var at VAR_OFFSET, num_batches_tracked at COUNT_OFFSET; one range, as WebGPU allows
//           a written buffer in one slot only)
// dispatch: CHANNELS workgroups of WG (64) invocations, split over x and y (see workgroupGrid).

override BATCH: u32;
override CHANNELS: u32;
override SPATIAL: u32;
override MOMENTUM: f32 = 0.1;
override UPDATE_RUNNING: bool = true;
override VAR_OFFSET: u32;
override COUNT_OFFSET: u32;
const WG = 64u;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;
@group(0) @binding(2) var<storage, read_write> running: array<f32>;

// #include "tree_sum.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let c = wid.x + wid.y * nwg.x;
  if (c >= CHANNELS) { return; }
  let m = BATCH * SPATIAL;
  var sum = 0.0;
  for (var j = lid; j < m; j += WG) { sum += input[((j / SPATIAL) * CHANNELS + c) * SPATIAL + j % SPATIAL]; }
  let mean = tree_sum(lid, sum) / f32(m);
  var squares = 0.0;
  for (var j = lid; j < m; j += WG) {
    let d = input[((j / SPATIAL) * CHANNELS + c) * SPATIAL + j % SPATIAL] - mean;
    squares += d * d;
  }
  let total = tree_sum(lid, squares);
  if (lid != 0u) { return; }
  let variance = total / f32(m);
  stats[c] = mean;
  stats[CHANNELS + c] = variance;
  if (UPDATE_RUNNING) {
    let unbiased = total / f32(max(m, 2u) - 1u);
    running[c] = (1.0 - MOMENTUM) * running[c] + MOMENTUM * mean;
    running[VAR_OFFSET + c] = (1.0 - MOMENTUM) * running[VAR_OFFSET + c] + MOMENTUM * unbiased;
    if (c == 0u) { running[COUNT_OFFSET] = running[COUNT_OFFSET] + 1.0; }
  }
}
