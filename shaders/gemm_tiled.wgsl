// gemm_tiled: C[M,N] = op(A) · op(B) (+ bias[N]) (then max(0, .) when RELU), row-major f32, the GPU-class
// variant of shaders/matmul.wgsl with the same operands and options (see there for op(), RELU_MASK):
// workgroup tiles staged through var<workgroup> memory (include/gemm_tiles.wgsl). Sums k in order like
// matmul.wgsl, so its results are bit-identical to that kernel's.
// bindings: 0 a: array<f32> (read), 1 b: array<f32> (read), 2 bias: array<f32> [N] (read; unused
//           unless HAS_BIAS), 3 c: array<f32> [M,N] (read_write), 4 mask: array<f32> [M,N] (read; unused
//           unless RELU_MASK)
// dispatch: ceil(M / TILE_M) * ceil(N / TILE_N) workgroups, split over x and y (see workgroupGrid).

override TRANSPOSE_A: bool = false;
override TRANSPOSE_B: bool = false;
override HAS_BIAS: bool = false;
override RELU: bool = false;
override RELU_MASK: bool = false;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> mask: array<f32>;

// #include "gemm_tiles.wgsl"

fn loadA(i: u32, k: u32) -> f32 {
  if (TRANSPOSE_A) { return a[k * GEMM_M + i]; }
  return a[i * GEMM_K + k];
}

fn loadB(k: u32, j: u32) -> f32 {
  if (TRANSPOSE_B) { return b[j * GEMM_K + k]; }
  return b[k * GEMM_N + j];
}

fn storeC(i: u32, j: u32, split: u32, sum: f32) {
  var v = sum;
  if (HAS_BIAS) { v += bias[j]; }
  if (RELU) { v = max(v, 0.0); }
  if (RELU_MASK) { v = select(v, 0.0, mask[i * GEMM_N + j] <= 0.0); }
  c[i * GEMM_N + j] = v;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let group = wid.x + wid.y * nwg.x;
  let tiles = ((GEMM_M + TILE_M - 1u) / TILE_M) * ((GEMM_N + TILE_N - 1u) / TILE_N);
  if (group >= tiles * K_SPLITS) { return; }
  gemmTile(group, lid);
}
