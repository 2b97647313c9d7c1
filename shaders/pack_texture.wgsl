// pack_texture: copies a row-major matrix M [ROWS, K] into an rgba32float texture for
// shaders/matmul_texture.wgsl: texel (q, i) = M[i, 4q .. 4q+3], zeros past K. src holds M, or with
// TRANSPOSE its transpose [K, ROWS] (so the texture's rows are src's columns). Taller matrices than
// a texture may be are paged: row i goes to texel row i % PAGE of the column of pages i / PAGE, so
// texel (q, i) is at (q + K4 * (i / PAGE), i % PAGE). With PIXELS, src holds uint8 pixels four to a
// word and M is their normalization (x/255 - MEAN) / STD per channel, as shaders/normalize.wgsl computes it: the
// network's first convolution takes its packed input straight from the uploaded batch.
// bindings: 0 src: the f32 bits of [ROWS, K] or [K, ROWS], or with PIXELS [ROWS, K] bytes (read),
//           1 dst: texture_storage_2d<rgba32float, write>, at least K4 x ROWS texels (K4 * pages x PAGE
//           when paged)
// dispatch: ceil(K4 * ROWS / WG) workgroups, split over x and y (see workgroupGrid).

override ROWS: u32;
override K: u32;
override K4: u32; // ceil(K / 4)
override TRANSPOSE: bool = false;
override PIXELS: bool = false;
override MEAN: f32 = 0.0;
override STD: f32 = 1.0;
override PAGE: u32; // rows per column of pages: the texture's height (ROWS or more when not paged)
override WG: u32 = 64u;

// #include "normalize_pixel.wgsl"

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var dst: texture_storage_2d<rgba32float, write>;

/** Element `index` of src, row-major. */
fn element(index: u32) -> f32 {
  if (PIXELS) {
    let byte = (src[index / 4u] >> (8u * (index % 4u))) & 0xffu;
    return normalize_pixel(f32(byte), index);
  }
  return bitcast<f32>(src[index]);
}

fn at(i: u32, k: u32) -> f32 {
  if (k >= K) { return 0.0; }
  if (TRANSPOSE) { return element(k * ROWS + i); }
  return element(i * K + k);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * WG + lid;
  if (t >= K4 * ROWS) { return; }
  // Adjacent invocations take adjacent elements of src: along a row, or down a column when transposed.
  let q = select(t % K4, t / ROWS, TRANSPOSE);
  let i = select(t / K4, t % ROWS, TRANSPOSE);
  let k = 4u * q;
  textureStore(dst, vec2u(q + K4 * (i / PAGE), i % PAGE), vec4f(at(i, k), at(i, k + 1u), at(i, k + 2u), at(i, k + 3u)));
}
