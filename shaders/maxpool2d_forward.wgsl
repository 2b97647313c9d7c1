// maxpool2d_forward: max over each KxK window (stride S, no padding, floor mode) of NCHW f32 planes.
// Ties go to the first element in row-major window order; a NaN wins over numbers, the last NaN over
// earlier ones (both as PyTorch's CPU kernel).
// bindings: 0 input: array<f32> (read, PLANES*H*W), 1 output: array<f32> (read_write, PLANES*OH*OW),
//           2 argmax: array<u32> (read_write, PLANES*OH*OW; flat index into input of the chosen element)
// PLANES = batch * channels. Each invocation computes OW_BLOCK adjacent outputs of one output row (about
// 2x faster on lavapipe than one output each: the index arithmetic is shared).
// dispatch: ceil(PLANES*OH*ceil(OW/OW_BLOCK) / WG) workgroups, split over x and y.

override PLANES: u32;
override H: u32;
override W: u32;
override K: u32;
override S: u32;
override OH: u32;
override OW: u32;
override OW_BLOCK: u32 = 4;
override WG: u32 = 64;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;
@group(0) @binding(2) var<storage, read_write> argmax: array<u32>;

// #include "is_nan.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let id = (wid.x + wid.y * nwg.x) * WG + lid;
  let blocks = (OW + OW_BLOCK - 1u) / OW_BLOCK;
  if (id >= PLANES * OH * blocks) { return; }
  let row = id / blocks; // plane * OH + oy
  let oy = row % OH;
  let plane = row / OH;
  // A fixed trip count (the compiler can unroll it) measured faster than stopping at OW.
  for (var j = 0u; j < OW_BLOCK; j++) {
    let ox = id % blocks * OW_BLOCK + j;
    if (ox >= OW) { break; }
    let corner = plane * H * W + oy * S * W + ox * S;
    var best = input[corner];
    var at = corner;
    for (var ky = 0u; ky < K; ky++) {
      for (var kx = 0u; kx < K; kx++) {
        let i = corner + ky * W + kx;
        let v = input[i];
        if (v > best || is_nan(v)) {
          best = v;
          at = i;
        }
      }
    }
    output[row * OW + ox] = best;
    argmax[row * OW + ox] = at;
  }
}
