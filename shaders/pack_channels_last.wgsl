// pack_channels_last: NCHW f32 planes into an rgba32float texture in channels-last order, for
// shaders/conv2d_forward_implicit_gemm.wgsl: texel ((y * OW + x) * C4 + g, r) holds channels
// 4g .. 4g+3 of position (y, x) of item r, zeros past C. Each position is the max over a POOL x POOL
// window at stride STRIDE (maxpool2d_forward.wgsl's max: first of ties, NaN wins; no argmax), so a
// network's max-pool writes the next convolution's operand directly. POOL = 1 is a plain repack: how
// the convolution's weights [O, C, KH, KW] are packed (R = O, H x W = KH x KW).
// bindings: 0 src: array<f32> [R, C, H, W] (read),
//           1 dst: texture_storage_2d<rgba32float, write>, at least OH * OW * C4 x R texels
// dispatch: ceil(R * C4 * OH * OW / WG) workgroups, split over x and y (see workgroupGrid).

override R: u32;
override C: u32;
override H: u32;
override W: u32;
override OH: u32;
override OW: u32;
override C4: u32; // ceil(C / 4)
override POOL: u32 = 1u;
override STRIDE: u32 = 1u;
override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var dst: texture_storage_2d<rgba32float, write>;

// #include "is_nan.wgsl"

/** The window's max at (y, x) of plane (r, c); 0 for channels past C (the texel's padding). */
fn windowMax(r: u32, c: u32, y: u32, x: u32) -> f32 {
  if (c >= C) { return 0.0; }
  let corner = ((r * C + c) * H + y * STRIDE) * W + x * STRIDE;
  var best = src[corner];
  for (var ky = 0u; ky < POOL; ky++) {
    for (var kx = 0u; kx < POOL; kx++) {
      let v = src[corner + ky * W + kx];
      if (v > best || is_nan(v)) { best = v; }
    }
  }
  return best;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * WG + lid;
  if (t >= R * C4 * OH * OW) { return; }
  // Adjacent invocations take adjacent positions of a row: adjacent windows of src.
  let x = t % OW;
  let y = (t / OW) % OH;
  let g = (t / (OW * OH)) % C4;
  let r = t / (OW * OH * C4);
  let c = 4u * g;
  let texel = vec4f(windowMax(r, c, y, x), windowMax(r, c + 1u, y, x), windowMax(r, c + 2u, y, x), windowMax(r, c + 3u, y, x));
  textureStore(dst, vec2u((y * OW + x) * C4 + g, r), texel);
}
