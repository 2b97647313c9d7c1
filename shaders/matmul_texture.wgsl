// matmul_texture: C[M,N] = A·Bᵀ (+ bias[N] on every row) (then max(0, .) when RELU), row-major C, for
// A [M,K] and B [N,K] held in rgba32float textures as shaders/pack_texture.wgsl writes them: texel
// (q, i) holds elements 4q .. 4q+3 of row i, zeros past K. The linear layer's forward is this product
// with A its input and B its weight; its weight gradient, with A = gradOutputᵀ and B = inputᵀ.
// bindings: 0 a: texture_2d<f32> (at least K4 x M texels), 1 b: texture_2d<f32> (at least K4 x N),
//           2 bias: array<f32> [N] (read; unused unless HAS_BIAS), 3 c: array<f32> [M,N] (read_write)
// Why textures: lavapipe fetches a storage-buffer load inside a loop lane by lane, a dozen
// instructions each with its bounds check, while a texel fetch is one vectorized call that brings
// 4 floats for all 8 lanes of the vector. And since gallivm masks every store of a loop-carried
// value, each accumulator takes the 4 products of a texel pair in one chained expression: one masked
// store per 4 fma. Together ~2x shaders/matmul.wgsl on fc1's shapes (bench/matmul-tiles.ts).
// Each invocation sums a ROWS x COLS block of C over k in order with fma from 0, as
// shaders/matmul.wgsl does, so the two agree bit for bit (the zero padding adds exact zeros).
// dispatch: ceil(ROW_BLOCKS * COL_BLOCKS / WG) workgroups, split over x and y (see workgroupGrid),
//   where ROW_BLOCKS = ceil(M / ROWS), COL_BLOCKS = ceil(N / COLS).

override M: u32;
override N: u32;
override K4: u32; // texels per row: ceil(K / 4)
override HAS_BIAS: bool = false;
override RELU: bool = false;
override ROWS: u32 = 16u; // at most MAX_ROWS
override COLS: u32 = 16u; // at most MAX_COLS
override WG: u32 = 8u;
override ROW_BLOCKS: u32;
override COL_BLOCKS: u32;

// #include "register_block.wgsl"

@group(0) @binding(0) var a: texture_2d<f32>;
@group(0) @binding(1) var b: texture_2d<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let block = (wid.x + wid.y * nwg.x) * WG + lid;
  if (block >= ROW_BLOCKS * COL_BLOCKS) { return; }
  let i0 = (block % ROW_BLOCKS) * ROWS;
  let j0 = (block / ROW_BLOCKS) * COLS;

  for (var q = 0u; q < K4; q++) {
    // Rows and columns past the edge of C load clamped (valid) texels; their sums are not stored.
    var as_: array<vec4f, MAX_ROWS>;
    var bs: array<vec4f, MAX_COLS>;
    for (var r = 0u; r < ROWS; r++) { as_[r] = textureLoad(a, vec2u(q, min(i0 + r, M - 1u)), 0); }
    for (var j = 0u; j < COLS; j++) { bs[j] = textureLoad(b, vec2u(q, min(j0 + j, N - 1u)), 0); }
    dotRows8(0u, as_, bs);
    if (ROWS > 8u) { dotRows8(8u, as_, bs); }
    if (ROWS > 16u) { dotRows8(16u, as_, bs); }
  }

  for (var r = 0u; r < ROWS; r++) {
    let i = i0 + r;
    if (i >= M) { break; }
    for (var j = 0u; j < COLS; j++) {
      if (j0 + j >= N) { break; }
      var v = acc[r * MAX_COLS + j];
      if (HAS_BIAS) { v += bias[j0 + j]; }
      if (RELU) { v = max(v, 0.0); }
      c[i * N + j0 + j] = v;
    }
  }
}
