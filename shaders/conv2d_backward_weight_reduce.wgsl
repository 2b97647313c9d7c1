// conv2d_backward_weight_reduce: adds the CHUNKS partial sums left by conv2d_backward_weight, in chunk
// order (deterministic), and overwrites the weight and bias gradients with them.
//   gradWeight[i] = sum over k of partial[k, i]           for i < WEIGHTS
//   gradBias[o]   = sum over k of partial[k, WEIGHTS + o] for o < O
// bindings: 0 partial:    array<f32> [CHUNKS, WEIGHTS + O] (read)
//           1 gradWeight: array<f32> [WEIGHTS] = [O, C, KH, KW] (read_write)
//           2 gradBias:   array<f32> [O]       (read_write)
// dispatch: ceil((WEIGHTS + O) / WG) workgroups, split over x and y (workgroupGrid).

override WEIGHTS: u32; // O * C * KH * KW
override O: u32;
override CHUNKS: u32;
override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> gradWeight: array<f32>;
@group(0) @binding(2) var<storage, read_write> gradBias: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  let stride = WEIGHTS + O;
  if (i >= stride) { return; }
  var sum = 0.0;
  for (var k = 0u; k < CHUNKS; k++) { sum += partial[k * stride + i]; }
  if (i < WEIGHTS) {
    gradWeight[i] = sum;
  } else {
    gradBias[i - WEIGHTS] = sum;
  }
}
