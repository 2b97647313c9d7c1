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

const MAX_ROWS = 24u;
const MAX_COLS = 24u;

@group(0) @binding(0) var a: texture_2d<f32>;
@group(0) @binding(1) var b: texture_2d<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// Indexed by constants only once the guarded statements fold, so the accumulators stay in registers
// (see shaders/matmul.wgsl on why the blocks are written out rather than looped).
var<private> acc: array<f32, MAX_ROWS * MAX_COLS>;

/** s + x·y over the 4 lanes in order, fused. */
fn dot4(x: vec4f, y: vec4f, s: f32) -> f32 {
  return fma(x.w, y.w, fma(x.z, y.z, fma(x.y, y.y, fma(x.x, y.x, s))));
}

/** Row r of the block (a constant at every call site) += x · bs, 4 k at a time. */
fn dotRow(r: u32, x: vec4f, bs: array<vec4f, MAX_COLS>) {
  let o = r * MAX_COLS;
  acc[o] = dot4(x, bs[0], acc[o]);
  if (COLS > 1u) { acc[o + 1u] = dot4(x, bs[1], acc[o + 1u]); }
  if (COLS > 2u) { acc[o + 2u] = dot4(x, bs[2], acc[o + 2u]); }
  if (COLS > 3u) { acc[o + 3u] = dot4(x, bs[3], acc[o + 3u]); }
  if (COLS > 4u) { acc[o + 4u] = dot4(x, bs[4], acc[o + 4u]); }
  if (COLS > 5u) { acc[o + 5u] = dot4(x, bs[5], acc[o + 5u]); }
  if (COLS > 6u) { acc[o + 6u] = dot4(x, bs[6], acc[o + 6u]); }
  if (COLS > 7u) { acc[o + 7u] = dot4(x, bs[7], acc[o + 7u]); }
  if (COLS > 8u) { acc[o + 8u] = dot4(x, bs[8], acc[o + 8u]); }
  if (COLS > 9u) { acc[o + 9u] = dot4(x, bs[9], acc[o + 9u]); }
  if (COLS > 10u) { acc[o + 10u] = dot4(x, bs[10], acc[o + 10u]); }
  if (COLS > 11u) { acc[o + 11u] = dot4(x, bs[11], acc[o + 11u]); }
  if (COLS > 12u) { acc[o + 12u] = dot4(x, bs[12], acc[o + 12u]); }
  if (COLS > 13u) { acc[o + 13u] = dot4(x, bs[13], acc[o + 13u]); }
  if (COLS > 14u) { acc[o + 14u] = dot4(x, bs[14], acc[o + 14u]); }
  if (COLS > 15u) { acc[o + 15u] = dot4(x, bs[15], acc[o + 15u]); }
  if (COLS > 16u) { acc[o + 16u] = dot4(x, bs[16], acc[o + 16u]); }
  if (COLS > 17u) { acc[o + 17u] = dot4(x, bs[17], acc[o + 17u]); }
  if (COLS > 18u) { acc[o + 18u] = dot4(x, bs[18], acc[o + 18u]); }
  if (COLS > 19u) { acc[o + 19u] = dot4(x, bs[19], acc[o + 19u]); }
  if (COLS > 20u) { acc[o + 20u] = dot4(x, bs[20], acc[o + 20u]); }
  if (COLS > 21u) { acc[o + 21u] = dot4(x, bs[21], acc[o + 21u]); }
  if (COLS > 22u) { acc[o + 22u] = dot4(x, bs[22], acc[o + 22u]); }
  if (COLS > 23u) { acc[o + 23u] = dot4(x, bs[23], acc[o + 23u]); }
}

/** Rows r0 .. r0 + 7 of the block. */
fn dotRows8(r0: u32, as_: array<vec4f, MAX_ROWS>, bs: array<vec4f, MAX_COLS>) {
  if (ROWS > r0) { dotRow(r0, as_[r0], bs); }
  if (ROWS > r0 + 1u) { dotRow(r0 + 1u, as_[r0 + 1u], bs); }
  if (ROWS > r0 + 2u) { dotRow(r0 + 2u, as_[r0 + 2u], bs); }
  if (ROWS > r0 + 3u) { dotRow(r0 + 3u, as_[r0 + 3u], bs); }
  if (ROWS > r0 + 4u) { dotRow(r0 + 4u, as_[r0 + 4u], bs); }
  if (ROWS > r0 + 5u) { dotRow(r0 + 5u, as_[r0 + 5u], bs); }
  if (ROWS > r0 + 6u) { dotRow(r0 + 6u, as_[r0 + 6u], bs); }
  if (ROWS > r0 + 7u) { dotRow(r0 + 7u, as_[r0 + 7u], bs); }
}

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
