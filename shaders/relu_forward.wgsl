// relu_forward: output = max(input, 0), elementwise; NaN stays NaN (as PyTorch).
// bindings: 0 input: array<f32> (read, COUNT), 1 output: array<f32> (read_write, COUNT)
// dispatch: ceil(COUNT / (WG * PER)) workgroups, split over x and y (see workgroupGrid).
// Each invocation handles PER consecutive elements: on lavapipe that runs about twice as fast as one
// element per invocation, and unlike vec4 bindings it works for any COUNT and any binding size.

override COUNT: u32;
override PER: u32 = 8;
override WG: u32 = 64;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

fn relu(x: f32) -> f32 {
  return select(x, 0.0, x < 0.0);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let first = ((wid.x + wid.y * nwg.x) * WG + lid) * PER;
  if (first >= COUNT) { return; }
  if (first + PER <= COUNT) {
    for (var k = 0u; k < PER; k++) { output[first + k] = relu(input[first + k]); }
  } else {
    for (var i = first; i < COUNT; i++) { output[i] = relu(input[i]); }
  }
}
