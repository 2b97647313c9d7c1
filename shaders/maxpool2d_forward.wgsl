// maxpool2d_forward: max over each KxK window (stride S, no padding, floor mode) of NCHW f32 planes.
// Ties go to the first element in row-major window order; a NaN wins over numbers, the last NaN over
// earlier ones (both as PyTorch's CPU kernel).
// bindings: 0 input: array<f32> (read, PLANES*H*W), 1 output: array<f32> (read_write, PLANES*OH*OW),
//           2 argmax: array<u32> (read_write, PLANES*OH*OW; flat index into input of the chosen element)
// PLANES = batch * channels. dispatch: ceil(PLANES*OH*OW / WG) workgroups, split over x and y.

override PLANES: u32;
override H: u32;
override W: u32;
override K: u32;
override S: u32;
override OH: u32;
override OW: u32;
override WG: u32 = 64;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;
@group(0) @binding(2) var<storage, read_write> argmax: array<u32>;

// By bits, so a compiler that assumes finite floats cannot fold the test away.
fn is_nan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let o = (wid.x + wid.y * nwg.x) * WG + lid;
  if (o >= PLANES * OH * OW) { return; }
  let ox = o % OW;
  let rest = o / OW;
  let oy = rest % OH;
  let plane = rest / OH;
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
  output[o] = best;
  argmax[o] = at;
}
