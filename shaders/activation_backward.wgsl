// activation_backward: gradInput = gradOutput * f'(input), elementwise, for activation_forward.wgsl's
// functions (FUNCTION, SLOPE as there).
// bindings: 0 input: array<f32> (read, COUNT, the forward's input), 1 gradOutput: array<f32> (read, COUNT),
//           2 gradInput: array<f32> (read_write, COUNT)
// dispatch: ceil(COUNT / (WG * PER)) workgroups, split over x and y (see workgroupGrid).

override COUNT: u32;
override FUNCTION: u32;
override SLOPE: f32 = 0.01;
override PER: u32 = 8;
override WG: u32 = 64;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(2) var<storage, read_write> gradInput: array<f32>;

// #include "activation.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let first = ((wid.x + wid.y * nwg.x) * WG + lid) * PER;
  if (first >= COUNT) { return; }
  let last = min(first + PER, COUNT);
  for (var i = first; i < last; i++) { gradInput[i] = gradOutput[i] * activationDerivative(input[i]); }
}
