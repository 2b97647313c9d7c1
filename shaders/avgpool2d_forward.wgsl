// avgpool2d_forward: the mean of each KERNEL x KERNEL window at STRIDE, no padding, floor mode, as
// PyTorch's nn.AvgPool2d; a window covering the whole plane is global average pooling.
// bindings: 0 input: array<f32> [PLANES, HEIGHT, WIDTH] (read), 1 output: array<f32> [PLANES, OUT_H, OUT_W]
//           (read_write); PLANES = batch * channels
// dispatch: ceil(PLANES * OUT_H * OUT_W / WG) workgroups, split over x and y; one output each, summed
// in window order (ky, kx).

override PLANES: u32;
override HEIGHT: u32;
override WIDTH: u32;
override OUT_H: u32;
override OUT_W: u32;
override KERNEL: u32;
override STRIDE: u32;
override WG: u32 = 64;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let o = (wid.x + wid.y * nwg.x) * WG + lid;
  if (o >= PLANES * OUT_H * OUT_W) { return; }
  let plane = o / (OUT_H * OUT_W);
  let oy = (o / OUT_W) % OUT_H;
  let ox = o % OUT_W;
  var sum = 0.0;
  for (var ky = 0u; ky < KERNEL; ky++) {
    let row = plane * HEIGHT * WIDTH + (oy * STRIDE + ky) * WIDTH + ox * STRIDE;
    for (var kx = 0u; kx < KERNEL; kx++) { sum += input[row + kx]; }
  }
  output[o] = sum / f32(KERNEL * KERNEL);
}
