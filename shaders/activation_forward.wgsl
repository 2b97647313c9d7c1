// activation_forward: output = f(input), elementwise, for the smooth activations (FUNCTION):
// 0 gelu (PyTorch's tanh approximation), 1 silu, 2 leaky ReLU (negative slope SLOPE), 3 tanh, 4 sigmoid.
// bindings: 0 input: array<f32> (read, COUNT), 1 output: array<f32> (read_write, COUNT)
// dispatch: ceil(COUNT / (WG * PER)) workgroups, split over x and y (see workgroupGrid).
// PER consecutive elements per invocation, as relu_forward.wgsl.

override COUNT: u32;
override FUNCTION: u32;
override SLOPE: f32 = 0.01;
override PER: u32 = 8;
override WG: u32 = 64;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

// #include "activation.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let first = ((wid.x + wid.y * nwg.x) * WG + lid) * PER;
  if (first >= COUNT) { return; }
  let last = min(first + PER, COUNT);
  for (var i = first; i < last; i++) { output[i] = activation(input[i]); }
}
