// avgpool2d_backward: each input element's gradient, gathered (no atomics, so deterministic) from the
// windows that cover it: grad_input = sum over those windows of grad_output / (KERNEL * KERNEL).
// Elements no window covers (floor mode's right and bottom edges) get 0.
// bindings: 0 grad_output: array<f32> [PLANES, OUT_H, OUT_W] (read), 1 grad_input: array<f32>
//           [PLANES, HEIGHT, WIDTH] (read_write)
// dispatch: ceil(PLANES * HEIGHT * WIDTH / WG) workgroups, split over x and y.

override PLANES: u32;
override HEIGHT: u32;
override WIDTH: u32;
override OUT_H: u32;
override OUT_W: u32;
override KERNEL: u32;
override STRIDE: u32;
override WG: u32 = 64;

@group(0) @binding(0) var<storage, read> grad_output: array<f32>;
@group(0) @binding(1) var<storage, read_write> grad_input: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= PLANES * HEIGHT * WIDTH) { return; }
  let plane = i / (HEIGHT * WIDTH);
  let y = (i / WIDTH) % HEIGHT;
  let x = i % WIDTH;
  // Windows oy with oy*STRIDE <= y < oy*STRIDE + KERNEL, inside the output.
  let oy_first = select(0u, (y - KERNEL + STRIDE) / STRIDE, y + 1u > KERNEL);
  let ox_first = select(0u, (x - KERNEL + STRIDE) / STRIDE, x + 1u > KERNEL);
  var sum = 0.0;
  for (var oy = oy_first; oy <= min(y / STRIDE, OUT_H - 1u); oy++) {
    for (var ox = ox_first; ox <= min(x / STRIDE, OUT_W - 1u); ox++) {
      sum += grad_output[(plane * OUT_H + oy) * OUT_W + ox];
    }
  }
  grad_input[i] = sum / f32(KERNEL * KERNEL);
}
