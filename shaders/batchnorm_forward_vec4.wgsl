// batchnorm_forward_vec4: batchnorm_forward.wgsl for planes of a multiple of 4 values: each invocation
// normalizes PER groups of four values of one channel, loading the channel's statistics and parameters
// once per group instead of once per value (a fifth of the gathers on lavapipe). Every value is computed
// by the same expression as in the scalar kernel.
// bindings: as batchnorm_forward.wgsl; input and output as array<vec4f> (SPATIAL % 4 == 0).
// dispatch: ceil(COUNT / (4 * WG * PER)) workgroups, split over x and y.

override BATCH: u32;
override CHANNELS: u32;
override SPATIAL: u32;
override VAR_OFFSET: u32;
override EPS: f32 = 1e-5;
override RELU: bool = false;
override PER: u32 = 4;
override WG: u32 = 64;

@group(0) @binding(0) var<storage, read> input: array<vec4f>;
@group(0) @binding(1) var<storage, read> stats: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> output: array<vec4f>;

fn normalize_four(i: u32) {
  let c = (i / (SPATIAL / 4u)) % CHANNELS;
  let y = (input[i] - stats[c]) * (1.0 / sqrt(stats[VAR_OFFSET + c] + EPS)) * weight[c] + bias[c];
  output[i] = select(y, select(y, vec4f(0.0), y < vec4f(0.0)), RELU);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let count = BATCH * CHANNELS * SPATIAL / 4u;
  let first = ((wid.x + wid.y * nwg.x) * WG + lid) * PER;
  for (var i = first; i < min(first + PER, count); i++) { normalize_four(i); }
}
