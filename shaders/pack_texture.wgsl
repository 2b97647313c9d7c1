// pack_texture: copies a row-major matrix src [ROWS, K] into an rgba32float texture for
// shaders/matmul_texture.wgsl: texel (q, i) = src[i, 4q .. 4q+3], zeros past K.
// bindings: 0 src: array<f32> [ROWS, K] (read), 1 dst: texture_storage_2d<rgba32float, write>
//           [K4 x ROWS texels]
// dispatch: ceil(K4 * ROWS / WG) workgroups, split over x and y (see workgroupGrid).

override ROWS: u32;
override K: u32;
override K4: u32; // ceil(K / 4)
override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var dst: texture_storage_2d<rgba32float, write>;

fn at(i: u32, k: u32) -> f32 {
  if (k >= K) { return 0.0; }
  return src[i * K + k];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * WG + lid;
  if (t >= K4 * ROWS) { return; }
  let q = t % K4;
  let i = t / K4;
  let k = 4u * q;
  textureStore(dst, vec2u(q, i), vec4f(at(i, k), at(i, k + 1u), at(i, k + 2u), at(i, k + 3u)));
}
