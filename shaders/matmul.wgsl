// matmul: C[M,N] = op(A) · op(B) (+ bias[N] on every row) (then max(0, .) when RELU), all row-major f32.
//   op(A)[i,k] = TRANSPOSE_A ? a[k*M + i] : a[i*K + k]     (a holds [M,K], or [K,M] when transposed)
//   op(B)[k,j] = TRANSPOSE_B ? b[j*K + k] : b[k*N + j]     (b holds [K,N], or [N,K] when transposed)
// bindings: 0 a: array<f32> (read), 1 b: array<f32> (read), 2 bias: array<f32> [N] (read; unused
//           unless HAS_BIAS), 3 c: array<f32> [M,N] (read_write)
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
override ROWS: u32 = 16u; // at most MAX_ROWS
override COLS: u32 = 16u; // at most MAX_COLS
override WG: u32 = 8u;
override ROW_BLOCKS: u32;
override COL_BLOCKS: u32;

const MAX_ROWS = 32u;
const MAX_COLS = 16u;
// The fma nest runs in slices of ROW_SLICE rows, each its own loop: one loop over all ROWS x COLS
// would exceed the compiler's unrolling budget, and arrays indexed by a loop counter it did not
// unroll are slow. MAX_ROWS = 4 * ROW_SLICE: main calls accumulateSlice up to four times.
const ROW_SLICE = 8u;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

var<private> acc: array<f32, MAX_ROWS * MAX_COLS>;

fn loadA(i: u32, k: u32) -> f32 {
  if (TRANSPOSE_A) { return a[k * M + i]; }
  return a[i * K + k];
}

fn loadB(k: u32, j: u32) -> f32 {
  if (TRANSPOSE_B) { return b[j * K + k]; }
  return b[k * N + j];
}

/** acc[r][j] += as[r] * bs[j] for rows r0 .. r0 + ROW_SLICE - 1 of the block. */
fn accumulateSlice(as_: array<f32, MAX_ROWS>, bs: array<f32, MAX_COLS>, r0: u32) {
  for (var r = r0; r < min(r0 + ROW_SLICE, ROWS); r++) {
    for (var j = 0u; j < COLS; j++) {
      acc[r * MAX_COLS + j] = fma(as_[r], bs[j], acc[r * MAX_COLS + j]);
    }
  }
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
    for (var r = 0u; r < ROWS; r++) { as_[r] = loadA(min(i0 + r, M - 1u), k); }
    for (var j = 0u; j < COLS; j++) { bs[j] = loadB(k, min(j0 + j, N - 1u)); }
    accumulateSlice(as_, bs, 0u);
    if (ROWS > ROW_SLICE) { accumulateSlice(as_, bs, ROW_SLICE); }
    if (ROWS > 2u * ROW_SLICE) { accumulateSlice(as_, bs, 2u * ROW_SLICE); }
    if (ROWS > 3u * ROW_SLICE) { accumulateSlice(as_, bs, 3u * ROW_SLICE); }
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
