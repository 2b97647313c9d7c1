// matmul: C[M,N] = op(A) · op(B) (+ bias[N] on every row) (then max(0, .) when RELU), all row-major f32.
//   op(A)[i,k] = TRANSPOSE_A ? a[k*M + i] : a[i*K + k]     (a holds [M,K], or [K,M] when transposed)
//   op(B)[k,j] = TRANSPOSE_B ? b[j*K + k] : b[k*N + j]     (b holds [K,N], or [N,K] when transposed)
//   With RELU_MASK, C[i,j] = 0 wherever mask[i,j] <= 0 (PyTorch's threshold_backward, NaN passes): a
//   backward product whose result is the gradient of a ReLU's output applies that ReLU's backward too.
// bindings: 0 a: array<f32> (read), 1 b: array<f32> (read), 2 bias: array<f32> [N] (read; unused
//           unless HAS_BIAS), 3 c: array<f32> [M,N] (read_write), 4 mask: array<f32> [M,N] (read; unused
//           unless RELU_MASK)
// Each invocation keeps a ROWS x COLS register block of C and sums over k in order, so results are
// deterministic. lavapipe runs 8 invocations as the lanes of one vector but fetches every lane's
// storage-buffer load separately (~a dozen instructions each), so loads dominate: per k an invocation
// makes ROWS + COLS loads for ROWS * COLS fma, hence the big blocks. vec4 loads measured slower.
// dispatch: ceil(ROW_BLOCKS * COL_BLOCKS / WG) workgroups, split over x and y (see workgroupGrid),
//   where ROW_BLOCKS = ceil(M / ROWS), COL_BLOCKS = ceil(N / COLS). Adjacent invocations take adjacent
//   row blocks of the same columns, so they read the same B while it is in cache.

override M: u32;
override N: u32;
override K: u32;
override TRANSPOSE_A: bool = false;
override TRANSPOSE_B: bool = false;
override HAS_BIAS: bool = false;
override RELU: bool = false;
override RELU_MASK: bool = false;
override ROWS: u32 = 16u; // at most MAX_ROWS
override COLS: u32 = 10u; // at most MAX_COLS
override WG: u32 = 8u;
override ROW_BLOCKS: u32;
override COL_BLOCKS: u32;

const MAX_ROWS = 32u;
const MAX_COLS = 16u;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> mask: array<f32>;

// The accumulators must only be indexed by constants once loops are unrolled, or they leave
// registers for memory. Mesa unrolls loops with constant trip counts, but not the nested loops of
// the fma block in the SPIR-V that wgpu (Deno) makes, with its loop-bound counters (5x slower there),
// so that block, and the loads feeding it, are written out: one guarded statement or call per row
// and column, which the override constants fold away.
var<private> acc: array<f32, MAX_ROWS * MAX_COLS>;

fn loadA(i: u32, k: u32) -> f32 {
  if (TRANSPOSE_A) { return a[k * M + i]; }
  return a[i * K + k];
}

fn loadB(k: u32, j: u32) -> f32 {
  if (TRANSPOSE_B) { return b[j * K + k]; }
  return b[k * N + j];
}

/** Row r of the block (a constant at every call site) += x * bs. */
fn fmaRow(r: u32, x: f32, bs: array<f32, MAX_COLS>) {
  let o = r * MAX_COLS;
  acc[o] = fma(x, bs[0], acc[o]);
  if (COLS > 1u) { acc[o + 1u] = fma(x, bs[1], acc[o + 1u]); }
  if (COLS > 2u) { acc[o + 2u] = fma(x, bs[2], acc[o + 2u]); }
  if (COLS > 3u) { acc[o + 3u] = fma(x, bs[3], acc[o + 3u]); }
  if (COLS > 4u) { acc[o + 4u] = fma(x, bs[4], acc[o + 4u]); }
  if (COLS > 5u) { acc[o + 5u] = fma(x, bs[5], acc[o + 5u]); }
  if (COLS > 6u) { acc[o + 6u] = fma(x, bs[6], acc[o + 6u]); }
  if (COLS > 7u) { acc[o + 7u] = fma(x, bs[7], acc[o + 7u]); }
  if (COLS > 8u) { acc[o + 8u] = fma(x, bs[8], acc[o + 8u]); }
  if (COLS > 9u) { acc[o + 9u] = fma(x, bs[9], acc[o + 9u]); }
  if (COLS > 10u) { acc[o + 10u] = fma(x, bs[10], acc[o + 10u]); }
  if (COLS > 11u) { acc[o + 11u] = fma(x, bs[11], acc[o + 11u]); }
  if (COLS > 12u) { acc[o + 12u] = fma(x, bs[12], acc[o + 12u]); }
  if (COLS > 13u) { acc[o + 13u] = fma(x, bs[13], acc[o + 13u]); }
  if (COLS > 14u) { acc[o + 14u] = fma(x, bs[14], acc[o + 14u]); }
  if (COLS > 15u) { acc[o + 15u] = fma(x, bs[15], acc[o + 15u]); }
}

/** Rows r0 .. r0 + 7 of the block += as_[r] * bs. */
fn fmaRows8(r0: u32, as_: array<f32, MAX_ROWS>, bs: array<f32, MAX_COLS>) {
  if (ROWS > r0) { fmaRow(r0, as_[r0], bs); }
  if (ROWS > r0 + 1u) { fmaRow(r0 + 1u, as_[r0 + 1u], bs); }
  if (ROWS > r0 + 2u) { fmaRow(r0 + 2u, as_[r0 + 2u], bs); }
  if (ROWS > r0 + 3u) { fmaRow(r0 + 3u, as_[r0 + 3u], bs); }
  if (ROWS > r0 + 4u) { fmaRow(r0 + 4u, as_[r0 + 4u], bs); }
  if (ROWS > r0 + 5u) { fmaRow(r0 + 5u, as_[r0 + 5u], bs); }
  if (ROWS > r0 + 6u) { fmaRow(r0 + 6u, as_[r0 + 6u], bs); }
  if (ROWS > r0 + 7u) { fmaRow(r0 + 7u, as_[r0 + 7u], bs); }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let block = (wid.x + wid.y * nwg.x) * WG + lid;
  if (block >= ROW_BLOCKS * COL_BLOCKS) { return; }
  let i0 = (block % ROW_BLOCKS) * ROWS;
  let j0 = (block / ROW_BLOCKS) * COLS;

  for (var k = 0u; k < K; k++) {
    // Rows and columns past the edge of C load clamped (valid) addresses; their sums are not stored.
    var as_: array<f32, MAX_ROWS>;
    var bs: array<f32, MAX_COLS>;
    as_[0] = loadA(min(i0, M - 1u), k);
    if (ROWS > 1u) { as_[1] = loadA(min(i0 + 1u, M - 1u), k); }
    if (ROWS > 2u) { as_[2] = loadA(min(i0 + 2u, M - 1u), k); }
    if (ROWS > 3u) { as_[3] = loadA(min(i0 + 3u, M - 1u), k); }
    if (ROWS > 4u) { as_[4] = loadA(min(i0 + 4u, M - 1u), k); }
    if (ROWS > 5u) { as_[5] = loadA(min(i0 + 5u, M - 1u), k); }
    if (ROWS > 6u) { as_[6] = loadA(min(i0 + 6u, M - 1u), k); }
    if (ROWS > 7u) { as_[7] = loadA(min(i0 + 7u, M - 1u), k); }
    if (ROWS > 8u) { as_[8] = loadA(min(i0 + 8u, M - 1u), k); }
    if (ROWS > 9u) { as_[9] = loadA(min(i0 + 9u, M - 1u), k); }
    if (ROWS > 10u) { as_[10] = loadA(min(i0 + 10u, M - 1u), k); }
    if (ROWS > 11u) { as_[11] = loadA(min(i0 + 11u, M - 1u), k); }
    if (ROWS > 12u) { as_[12] = loadA(min(i0 + 12u, M - 1u), k); }
    if (ROWS > 13u) { as_[13] = loadA(min(i0 + 13u, M - 1u), k); }
    if (ROWS > 14u) { as_[14] = loadA(min(i0 + 14u, M - 1u), k); }
    if (ROWS > 15u) { as_[15] = loadA(min(i0 + 15u, M - 1u), k); }
    if (ROWS > 16u) { as_[16] = loadA(min(i0 + 16u, M - 1u), k); }
    if (ROWS > 17u) { as_[17] = loadA(min(i0 + 17u, M - 1u), k); }
    if (ROWS > 18u) { as_[18] = loadA(min(i0 + 18u, M - 1u), k); }
    if (ROWS > 19u) { as_[19] = loadA(min(i0 + 19u, M - 1u), k); }
    if (ROWS > 20u) { as_[20] = loadA(min(i0 + 20u, M - 1u), k); }
    if (ROWS > 21u) { as_[21] = loadA(min(i0 + 21u, M - 1u), k); }
    if (ROWS > 22u) { as_[22] = loadA(min(i0 + 22u, M - 1u), k); }
    if (ROWS > 23u) { as_[23] = loadA(min(i0 + 23u, M - 1u), k); }
    if (ROWS > 24u) { as_[24] = loadA(min(i0 + 24u, M - 1u), k); }
    if (ROWS > 25u) { as_[25] = loadA(min(i0 + 25u, M - 1u), k); }
    if (ROWS > 26u) { as_[26] = loadA(min(i0 + 26u, M - 1u), k); }
    if (ROWS > 27u) { as_[27] = loadA(min(i0 + 27u, M - 1u), k); }
    if (ROWS > 28u) { as_[28] = loadA(min(i0 + 28u, M - 1u), k); }
    if (ROWS > 29u) { as_[29] = loadA(min(i0 + 29u, M - 1u), k); }
    if (ROWS > 30u) { as_[30] = loadA(min(i0 + 30u, M - 1u), k); }
    if (ROWS > 31u) { as_[31] = loadA(min(i0 + 31u, M - 1u), k); }
    bs[0] = loadB(k, min(j0, N - 1u));
    if (COLS > 1u) { bs[1] = loadB(k, min(j0 + 1u, N - 1u)); }
    if (COLS > 2u) { bs[2] = loadB(k, min(j0 + 2u, N - 1u)); }
    if (COLS > 3u) { bs[3] = loadB(k, min(j0 + 3u, N - 1u)); }
    if (COLS > 4u) { bs[4] = loadB(k, min(j0 + 4u, N - 1u)); }
    if (COLS > 5u) { bs[5] = loadB(k, min(j0 + 5u, N - 1u)); }
    if (COLS > 6u) { bs[6] = loadB(k, min(j0 + 6u, N - 1u)); }
    if (COLS > 7u) { bs[7] = loadB(k, min(j0 + 7u, N - 1u)); }
    if (COLS > 8u) { bs[8] = loadB(k, min(j0 + 8u, N - 1u)); }
    if (COLS > 9u) { bs[9] = loadB(k, min(j0 + 9u, N - 1u)); }
    if (COLS > 10u) { bs[10] = loadB(k, min(j0 + 10u, N - 1u)); }
    if (COLS > 11u) { bs[11] = loadB(k, min(j0 + 11u, N - 1u)); }
    if (COLS > 12u) { bs[12] = loadB(k, min(j0 + 12u, N - 1u)); }
    if (COLS > 13u) { bs[13] = loadB(k, min(j0 + 13u, N - 1u)); }
    if (COLS > 14u) { bs[14] = loadB(k, min(j0 + 14u, N - 1u)); }
    if (COLS > 15u) { bs[15] = loadB(k, min(j0 + 15u, N - 1u)); }
    fmaRows8(0u, as_, bs);
    if (ROWS > 8u) { fmaRows8(8u, as_, bs); }
    if (ROWS > 16u) { fmaRows8(16u, as_, bs); }
    if (ROWS > 24u) { fmaRows8(24u, as_, bs); }
  }

  for (var r = 0u; r < ROWS; r++) {
    let i = i0 + r;
    if (i >= M) { break; }
    for (var j = 0u; j < COLS; j++) {
      if (j0 + j >= N) { break; }
      var v = acc[r * MAX_COLS + j];
      if (HAS_BIAS) { v += bias[j0 + j]; }
      if (RELU) { v = max(v, 0.0); }
      if (RELU_MASK) { v = select(v, 0.0, mask[i * N + j0 + j] <= 0.0); }
      c[i * N + j0 + j] = v;
    }
  }
}
