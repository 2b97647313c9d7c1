// relu_backward: grad = output <= 0 ? 0 : grad, in place, from the forward output (post-ReLU), as
// PyTorch's threshold_backward (so a NaN output passes its gradient through).
// bindings: 0 output: array<f32> (read, COUNT), 1 grad: array<f32> (read_write, COUNT)
// dispatch: ceil(COUNT / (WG * PER)) workgroups, split over x and y (see workgroupGrid).
// PER consecutive elements per invocation, for the same reason as relu_forward.wgsl.

override COUNT: u32;
override PER: u32 = 8;
override WG: u32 = 64;

@group(0) @binding(0) var<storage, read> output: array<f32>;
@group(0) @binding(1) var<storage, read_write> grad: array<f32>;

fn mask(i: u32) {
  grad[i] = select(grad[i], 0.0, output[i] <= 0.0);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let first = ((wid.x + wid.y * nwg.x) * WG + lid) * PER;
  if (first >= COUNT) { return; }
  if (first + PER <= COUNT) {
    for (var k = 0u; k < PER; k++) { mask(first + k); }
  } else {
    for (var i = first; i < COUNT; i++) { mask(i); }
  }
}
