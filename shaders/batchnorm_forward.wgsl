// batchnorm_forward: y = (x - mean[c]) / sqrt(var[c] + EPS) * weight[c] + bias[c], then max(y, 0) when
// RELU. Training passes the batch statistics (batchnorm_stats.wgsl), evaluation the running ones.
// bindings: 0 input: array<f32> [BATCH, CHANNELS, SPATIAL] (read), 1 stats: array<f32> (read: mean at 0,
//           variance at VAR_OFFSET), 2 weight: array<f32> [CHANNELS] (read), 3 bias: array<f32> [CHANNELS]
//           (read), 4 output: array<f32> like input (read_write)
// dispatch: ceil(COUNT / (WG * PER)) workgroups, split over x and y; PER consecutive elements each.

override BATCH: u32;
override CHANNELS: u32;
override SPATIAL: u32;
override VAR_OFFSET: u32;
override EPS: f32 = 1e-5;
override RELU: bool = false;
override PER: u32 = 4;
override WG: u32 = 64;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read> stats: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> output: array<f32>;

fn normalize_one(i: u32) {
  let c = (i / SPATIAL) % CHANNELS;
  let y = (input[i] - stats[c]) * (1.0 / sqrt(stats[VAR_OFFSET + c] + EPS)) * weight[c] + bias[c];
  output[i] = select(y, select(y, 0.0, y < 0.0), RELU);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let count = BATCH * CHANNELS * SPATIAL;
  let first = ((wid.x + wid.y * nwg.x) * WG + lid) * PER;
  for (var i = first; i < min(first + PER, count); i++) { normalize_one(i); }
}
