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
    // Written out, as the fma block is (see register_block.wgsl), so wgpu's SPIR-V unrolls too.
    as_[0] = textureLoad(a, vec2u(q, min(i0, M - 1u)), 0);
    if (ROWS > 1u) { as_[1] = textureLoad(a, vec2u(q, min(i0 + 1u, M - 1u)), 0); }
    if (ROWS > 2u) { as_[2] = textureLoad(a, vec2u(q, min(i0 + 2u, M - 1u)), 0); }
    if (ROWS > 3u) { as_[3] = textureLoad(a, vec2u(q, min(i0 + 3u, M - 1u)), 0); }
    if (ROWS > 4u) { as_[4] = textureLoad(a, vec2u(q, min(i0 + 4u, M - 1u)), 0); }
    if (ROWS > 5u) { as_[5] = textureLoad(a, vec2u(q, min(i0 + 5u, M - 1u)), 0); }
    if (ROWS > 6u) { as_[6] = textureLoad(a, vec2u(q, min(i0 + 6u, M - 1u)), 0); }
    if (ROWS > 7u) { as_[7] = textureLoad(a, vec2u(q, min(i0 + 7u, M - 1u)), 0); }
    if (ROWS > 8u) { as_[8] = textureLoad(a, vec2u(q, min(i0 + 8u, M - 1u)), 0); }
    if (ROWS > 9u) { as_[9] = textureLoad(a, vec2u(q, min(i0 + 9u, M - 1u)), 0); }
    if (ROWS > 10u) { as_[10] = textureLoad(a, vec2u(q, min(i0 + 10u, M - 1u)), 0); }
    if (ROWS > 11u) { as_[11] = textureLoad(a, vec2u(q, min(i0 + 11u, M - 1u)), 0); }
    if (ROWS > 12u) { as_[12] = textureLoad(a, vec2u(q, min(i0 + 12u, M - 1u)), 0); }
    if (ROWS > 13u) { as_[13] = textureLoad(a, vec2u(q, min(i0 + 13u, M - 1u)), 0); }
    if (ROWS > 14u) { as_[14] = textureLoad(a, vec2u(q, min(i0 + 14u, M - 1u)), 0); }
    if (ROWS > 15u) { as_[15] = textureLoad(a, vec2u(q, min(i0 + 15u, M - 1u)), 0); }
    if (ROWS > 16u) { as_[16] = textureLoad(a, vec2u(q, min(i0 + 16u, M - 1u)), 0); }
    if (ROWS > 17u) { as_[17] = textureLoad(a, vec2u(q, min(i0 + 17u, M - 1u)), 0); }
    if (ROWS > 18u) { as_[18] = textureLoad(a, vec2u(q, min(i0 + 18u, M - 1u)), 0); }
    if (ROWS > 19u) { as_[19] = textureLoad(a, vec2u(q, min(i0 + 19u, M - 1u)), 0); }
    if (ROWS > 20u) { as_[20] = textureLoad(a, vec2u(q, min(i0 + 20u, M - 1u)), 0); }
    if (ROWS > 21u) { as_[21] = textureLoad(a, vec2u(q, min(i0 + 21u, M - 1u)), 0); }
    if (ROWS > 22u) { as_[22] = textureLoad(a, vec2u(q, min(i0 + 22u, M - 1u)), 0); }
    if (ROWS > 23u) { as_[23] = textureLoad(a, vec2u(q, min(i0 + 23u, M - 1u)), 0); }
    bs[0] = textureLoad(b, vec2u(q, min(j0, N - 1u)), 0);
    if (COLS > 1u) { bs[1] = textureLoad(b, vec2u(q, min(j0 + 1u, N - 1u)), 0); }
    if (COLS > 2u) { bs[2] = textureLoad(b, vec2u(q, min(j0 + 2u, N - 1u)), 0); }
    if (COLS > 3u) { bs[3] = textureLoad(b, vec2u(q, min(j0 + 3u, N - 1u)), 0); }
    if (COLS > 4u) { bs[4] = textureLoad(b, vec2u(q, min(j0 + 4u, N - 1u)), 0); }
    if (COLS > 5u) { bs[5] = textureLoad(b, vec2u(q, min(j0 + 5u, N - 1u)), 0); }
    if (COLS > 6u) { bs[6] = textureLoad(b, vec2u(q, min(j0 + 6u, N - 1u)), 0); }
    if (COLS > 7u) { bs[7] = textureLoad(b, vec2u(q, min(j0 + 7u, N - 1u)), 0); }
    if (COLS > 8u) { bs[8] = textureLoad(b, vec2u(q, min(j0 + 8u, N - 1u)), 0); }
    if (COLS > 9u) { bs[9] = textureLoad(b, vec2u(q, min(j0 + 9u, N - 1u)), 0); }
    if (COLS > 10u) { bs[10] = textureLoad(b, vec2u(q, min(j0 + 10u, N - 1u)), 0); }
    if (COLS > 11u) { bs[11] = textureLoad(b, vec2u(q, min(j0 + 11u, N - 1u)), 0); }
    if (COLS > 12u) { bs[12] = textureLoad(b, vec2u(q, min(j0 + 12u, N - 1u)), 0); }
    if (COLS > 13u) { bs[13] = textureLoad(b, vec2u(q, min(j0 + 13u, N - 1u)), 0); }
    if (COLS > 14u) { bs[14] = textureLoad(b, vec2u(q, min(j0 + 14u, N - 1u)), 0); }
    if (COLS > 15u) { bs[15] = textureLoad(b, vec2u(q, min(j0 + 15u, N - 1u)), 0); }
    if (COLS > 16u) { bs[16] = textureLoad(b, vec2u(q, min(j0 + 16u, N - 1u)), 0); }
    if (COLS > 17u) { bs[17] = textureLoad(b, vec2u(q, min(j0 + 17u, N - 1u)), 0); }
    if (COLS > 18u) { bs[18] = textureLoad(b, vec2u(q, min(j0 + 18u, N - 1u)), 0); }
    if (COLS > 19u) { bs[19] = textureLoad(b, vec2u(q, min(j0 + 19u, N - 1u)), 0); }
    if (COLS > 20u) { bs[20] = textureLoad(b, vec2u(q, min(j0 + 20u, N - 1u)), 0); }
    if (COLS > 21u) { bs[21] = textureLoad(b, vec2u(q, min(j0 + 21u, N - 1u)), 0); }
    if (COLS > 22u) { bs[22] = textureLoad(b, vec2u(q, min(j0 + 22u, N - 1u)), 0); }
    if (COLS > 23u) { bs[23] = textureLoad(b, vec2u(q, min(j0 + 23u, N - 1u)), 0); }
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
