// dropout_forward: keeps each element with probability 1 - p and scales it by 1 / (1 - p), as PyTorch's
// nn.Dropout in training; writes the mask (SCALE or 0) for the backward. Element i is kept when word 0 of
// Philox4x32-10 at counter (i, step, SALT, 0) with key (seed, 0) is below KEEP_THRESHOLD = (1 - p) * 2^32:
// the same mask for the same (seed, step, layer), whatever the batch's dispatch, so runs replay and resume.
// bindings: 0 rng: vec4u (uniform: seed, step, unused, unused), 1 input: array<f32> (read, COUNT),
//           2 output: array<f32> (read_write, COUNT), 3 mask: array<f32> (read_write, COUNT)
// dispatch: ceil(COUNT / WG) workgroups, split over x and y (see workgroupGrid).

// #include "philox.wgsl"

override COUNT: u32;
override KEEP_THRESHOLD: u32;
override SCALE: f32;
override SALT: u32;
override WG: u32 = 64;

@group(0) @binding(0) var<uniform> rng: vec4u;
@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;
@group(0) @binding(3) var<storage, read_write> mask: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= COUNT) { return; }
  let word = philox4x32(vec4u(i, rng.y, SALT, 0u), vec2u(rng.x, 0u)).x;
  let m = select(0.0, SCALE, word < KEEP_THRESHOLD);
  mask[i] = m;
  output[i] = input[i] * m;
}
