// dropout_backward: grad_input = grad_output * mask, the mask dropout_forward.wgsl wrote (SCALE or 0).
// bindings: 0 grad_output: array<f32> (read, COUNT), 1 mask: array<f32> (read, COUNT),
//           2 grad_input: array<f32> (read_write, COUNT)
// dispatch: ceil(COUNT / WG) workgroups, split over x and y (see workgroupGrid).

override COUNT: u32;
override WG: u32 = 64;

@group(0) @binding(0) var<storage, read> grad_output: array<f32>;
@group(0) @binding(1) var<storage, read> mask: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad_input: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= COUNT) { return; }
  grad_input[i] = grad_output[i] * mask[i];
}
