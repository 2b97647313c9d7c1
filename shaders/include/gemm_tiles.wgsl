// gemm_tiles: the workgroup-tiled product that shaders/gemm_tiled.wgsl and shaders/conv2d_gemm_tiled.wgsl
// share (pasted in by src/gpu/kernel.ts). A workgroup computes a TILE_M x TILE_N tile of C[GEMM_M, GEMM_N]
// over k in [kBegin, kEnd): per step of TILE_K it stages A's and B's slices in var<workgroup> memory
// (every invocation loads a few elements, adjacent invocations adjacent elements), then each invocation
// adds THREAD_M x THREAD_N outputs from there. The including kernel defines loadA(i, k), loadB(k, j)
// (both called in range only) and storeC(i, j, split, v). Each output sums its k in order with fma
// from 0.0, as shaders/matmul.wgsl does, so a dense product is bit-identical to that kernel's.
// The invocation's block, its operand loads and its fmas are written out (guarded statements the
// override constants fold away), not looped: wgpu's (Deno's) SPIR-V bounds every loop with a counter,
// and a compiler that keeps such a loop rolled keeps `acc` in memory instead of registers.
// Sizes: TILE_M, TILE_N <= 128, TILE_K <= 8, THREAD_M * THREAD_N <= 64, TILE_M % THREAD_M == 0,
// TILE_N % THREAD_N == 0, WG == (TILE_M / THREAD_M) * (TILE_N / THREAD_N) (src/kernels/gemm_tiles.ts checks).

override GEMM_M: u32;
override GEMM_N: u32;
override GEMM_K: u32;
override TILE_M: u32 = 64u;
override TILE_N: u32 = 64u;
override TILE_K: u32 = 8u;
override THREAD_M: u32 = 4u;
override THREAD_N: u32 = 4u;
override WG: u32 = 256u;
/** Splits of k (split-K): workgroup t covers tile t % tiles in split t / tiles, K_CHUNK values of k each. */
override K_SPLITS: u32 = 1u;
override K_CHUNK: u32 = GEMM_K;

const MAX_TILE_M = 128u;
const MAX_TILE_N = 128u;
const MAX_TILE_K = 8u;
const MAX_THREAD = 8u;

var<workgroup> tileA: array<f32, MAX_TILE_M * MAX_TILE_K>;
var<workgroup> tileB: array<f32, MAX_TILE_N * MAX_TILE_K>;
var<private> acc: array<f32, MAX_THREAD * MAX_THREAD>;

/** Row r of the invocation's block (a constant at every call site) += x * bs. */
fn fmaRow(r: u32, x: f32, bs: array<f32, MAX_THREAD>) {
  let o = r * MAX_THREAD;
  acc[o] = fma(x, bs[0], acc[o]);
  if (THREAD_N > 1u) { acc[o + 1u] = fma(x, bs[1], acc[o + 1u]); }
  if (THREAD_N > 2u) { acc[o + 2u] = fma(x, bs[2], acc[o + 2u]); }
  if (THREAD_N > 3u) { acc[o + 3u] = fma(x, bs[3], acc[o + 3u]); }
  if (THREAD_N > 4u) { acc[o + 4u] = fma(x, bs[4], acc[o + 4u]); }
  if (THREAD_N > 5u) { acc[o + 5u] = fma(x, bs[5], acc[o + 5u]); }
  if (THREAD_N > 6u) { acc[o + 6u] = fma(x, bs[6], acc[o + 6u]); }
  if (THREAD_N > 7u) { acc[o + 7u] = fma(x, bs[7], acc[o + 7u]); }
}

/** The tile and split of workgroup `group` (uniform), computed and stored. */
fn gemmTile(group: u32, lid: u32) {
  let tilesM = (GEMM_M + TILE_M - 1u) / TILE_M;
  let tilesN = (GEMM_N + TILE_N - 1u) / TILE_N;
  let tile = group % (tilesM * tilesN);
  let split = group / (tilesM * tilesN);
  let row0 = (tile % tilesM) * TILE_M;
  let col0 = (tile / tilesM) * TILE_N;
  let kBegin = split * K_CHUNK;
  let kEnd = min(GEMM_K, kBegin + K_CHUNK);
  let threadsM = TILE_M / THREAD_M;
  let threadsN = TILE_N / THREAD_N;
  // Strided outputs (tr + r * threadsM) so adjacent invocations read adjacent workgroup words.
  let tr = lid % threadsM;
  let tc = lid / threadsM;
  acc = array<f32, MAX_THREAD * MAX_THREAD>();
  for (var k0 = kBegin; k0 < kEnd; k0 += TILE_K) {
    let kCount = min(TILE_K, kEnd - k0);
    for (var e = lid; e < TILE_M * TILE_K; e += WG) {
      let r = e % TILE_M;
      let kk = e / TILE_M;
      var v = 0.0;
      if (kk < kCount && row0 + r < GEMM_M) { v = loadA(row0 + r, k0 + kk); }
      tileA[kk * TILE_M + r] = v;
    }
    for (var e = lid; e < TILE_N * TILE_K; e += WG) {
      let c = e % TILE_N;
      let kk = e / TILE_N;
      var v = 0.0;
      if (kk < kCount && col0 + c < GEMM_N) { v = loadB(k0 + kk, col0 + c); }
      tileB[kk * TILE_N + c] = v;
    }
    workgroupBarrier();
    // Only the kCount staged values of k: a padded zero would still add an fma (and turn -0 into +0).
    for (var kk = 0u; kk < kCount; kk++) {
      var as_: array<f32, MAX_THREAD>;
      var bs: array<f32, MAX_THREAD>;
      let a0 = kk * TILE_M + tr;
      let b0 = kk * TILE_N + tc;
      as_[0] = tileA[a0];
      if (THREAD_M > 1u) { as_[1] = tileA[a0 + threadsM]; }
      if (THREAD_M > 2u) { as_[2] = tileA[a0 + 2u * threadsM]; }
      if (THREAD_M > 3u) { as_[3] = tileA[a0 + 3u * threadsM]; }
      if (THREAD_M > 4u) { as_[4] = tileA[a0 + 4u * threadsM]; }
      if (THREAD_M > 5u) { as_[5] = tileA[a0 + 5u * threadsM]; }
      if (THREAD_M > 6u) { as_[6] = tileA[a0 + 6u * threadsM]; }
      if (THREAD_M > 7u) { as_[7] = tileA[a0 + 7u * threadsM]; }
      bs[0] = tileB[b0];
      if (THREAD_N > 1u) { bs[1] = tileB[b0 + threadsN]; }
      if (THREAD_N > 2u) { bs[2] = tileB[b0 + 2u * threadsN]; }
      if (THREAD_N > 3u) { bs[3] = tileB[b0 + 3u * threadsN]; }
      if (THREAD_N > 4u) { bs[4] = tileB[b0 + 4u * threadsN]; }
      if (THREAD_N > 5u) { bs[5] = tileB[b0 + 5u * threadsN]; }
      if (THREAD_N > 6u) { bs[6] = tileB[b0 + 6u * threadsN]; }
      if (THREAD_N > 7u) { bs[7] = tileB[b0 + 7u * threadsN]; }
      fmaRow(0u, as_[0], bs);
      if (THREAD_M > 1u) { fmaRow(1u, as_[1], bs); }
      if (THREAD_M > 2u) { fmaRow(2u, as_[2], bs); }
      if (THREAD_M > 3u) { fmaRow(3u, as_[3], bs); }
      if (THREAD_M > 4u) { fmaRow(4u, as_[4], bs); }
      if (THREAD_M > 5u) { fmaRow(5u, as_[5], bs); }
      if (THREAD_M > 6u) { fmaRow(6u, as_[6], bs); }
      if (THREAD_M > 7u) { fmaRow(7u, as_[7], bs); }
    }
    workgroupBarrier();
  }
  // One store site in a loop; `staged` is indexed dynamically, `acc` stays in registers.
  var staged = acc;
  for (var r = 0u; r < THREAD_M; r++) {
    let i = row0 + tr + r * threadsM;
    if (i >= GEMM_M) { break; }
    for (var c = 0u; c < THREAD_N; c++) {
      let j = col0 + tc + c * threadsN;
      if (j >= GEMM_N) { break; }
      storeC(i, j, split, staged[r * MAX_THREAD + c]);
    }
  }
}
