// register_block: shared by shaders/matmul_texture.wgsl and shaders/conv2d_forward_implicit_gemm.wgsl,
// pasted in by src/gpu/kernel.ts where a kernel has the line `// #include "register_block.wgsl"` (WGSL
// has no includes). A ROWS x COLS block of accumulators that each take the 4 products of a texel pair
// in one chained fma expression (see matmul_texture.wgsl on why). The kernel declares the overrides
// ROWS (at most MAX_ROWS) and COLS (at most MAX_COLS).

const MAX_ROWS = 24u;
const MAX_COLS = 24u;

// Indexed by constants only once the guarded statements fold, so the accumulators stay in registers
// (see shaders/matmul.wgsl on why the blocks are written out rather than looped).
var<private> acc: array<f32, MAX_ROWS * MAX_COLS>;

/** s + x·y over the 4 lanes in order, fused. */
fn dot4(x: vec4f, y: vec4f, s: f32) -> f32 {
  return fma(x.w, y.w, fma(x.z, y.z, fma(x.y, y.y, fma(x.x, y.x, s))));
}

/** Row r of the block (a constant at every call site) += x · bs, the 4 k of a texel pair at a time. */
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
