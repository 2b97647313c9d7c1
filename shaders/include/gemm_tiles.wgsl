// gemm_tiles: the workgroup-tiled product that shaders/gemm_tiled.wgsl and shaders/conv2d_gemm_tiled.wgsl
// share (pasted in by src/gpu/kernel.ts). A workgroup computes a TILE_M x TILE_N tile of C[GEMM_M, GEMM_N]
// over k in [kBegin, kEnd): per step of TILE_K it stages A's and B's slices in var<workgroup> memory
// (every invocation loads a few elements, adjacent invocations adjacent elements), then each invocation
// adds THREAD_M x THREAD_N outputs from there. The including kernel defines loadA(i, k), loadB(k, j)
// (both called in range only) and storeC(i, j, split, v). Each output sums its k in order with fma
// from 0.0, as shaders/matmul.wgsl does, so a dense product is bit-identical to that kernel's.
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
  for (var q = 0u; q < THREAD_M * THREAD_N; q++) { acc[q] = 0.0; }
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
      for (var r = 0u; r < THREAD_M; r++) { as_[r] = tileA[kk * TILE_M + tr + r * threadsM]; }
      for (var c = 0u; c < THREAD_N; c++) { bs[c] = tileB[kk * TILE_N + tc + c * threadsN]; }
      for (var r = 0u; r < THREAD_M; r++) {
        for (var c = 0u; c < THREAD_N; c++) { acc[r * THREAD_N + c] = fma(as_[r], bs[c], acc[r * THREAD_N + c]); }
      }
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < THREAD_M; r++) {
    let i = row0 + tr + r * threadsM;
    if (i >= GEMM_M) { break; }
    for (var c = 0u; c < THREAD_N; c++) {
      let j = col0 + tc + c * threadsN;
      if (j >= GEMM_N) { break; }
      storeC(i, j, split, acc[r * THREAD_N + c]);
    }
  }
}
