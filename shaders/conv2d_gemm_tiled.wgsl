// conv2d_gemm_tiled: a convolution pass (PyTorch's Conv2d: NCHW input [BATCH,C,H,W], weight [O,C,KH,KW],
// stride S, zero padding P, output [BATCH,O,OH,OW]) as an implicit GEMM with workgroup tiles
// (include/gemm_tiles.wgsl): no im2col matrix, operands gathered as they are staged. MODE picks the pass:
//   0 forward:         GEMM_M = BATCH*OH*OW (output positions), GEMM_N = O, GEMM_K = C*KH*KW;
//                      x = input, y = weight, result = output (+ bias, then ReLU when RELU)
//   1 backward input:  GEMM_M = BATCH*H*W (input positions), GEMM_N = C, GEMM_K = O*KH*KW;
//                      x = gradOutput, y = weight, result = gradInput
//   2 backward weight: GEMM_M = O, GEMM_N = C*KH*KW, GEMM_K = BATCH*OH*OW; x = gradOutput, y = input,
//                      result = K_SPLITS partial sums [K_SPLITS, O, C*KH*KW] (shaders/reduce_tree.wgsl sums them)
// bindings: 0 x: array<f32> (read), 1 y: array<f32> (read), 2 bias: array<f32> [O] (read; unused unless
//           HAS_BIAS), 3 result: array<f32> (read_write)
// dispatch: ceil(GEMM_M / TILE_M) * ceil(GEMM_N / TILE_N) * K_SPLITS workgroups, over x and y (workgroupGrid).

override MODE: u32;
override BATCH: u32;
override C: u32;
override H: u32;
override W: u32;
override O: u32;
override KH: u32;
override KW: u32;
override S: u32 = 1u;
override P: u32 = 0u;
override OH: u32;
override OW: u32;
override HAS_BIAS: bool = false;
override RELU: bool = false;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> result: array<f32>;

// #include "gemm_tiles.wgsl"

/** input[n, c, oy*S + ky - P, ox*S + kx - P], or 0 in the padding; `src` 0 reads x, 1 reads y. */
fn inputAt(src: u32, n: u32, c: u32, oy: u32, ox: u32, ky: u32, kx: u32) -> f32 {
  let iy = i32(oy * S + ky) - i32(P);
  let ix = i32(ox * S + kx) - i32(P);
  if (iy < 0 || ix < 0 || iy >= i32(H) || ix >= i32(W)) { return 0.0; }
  let at = ((n * C + c) * H + u32(iy)) * W + u32(ix);
  if (src == 0u) { return x[at]; }
  return y[at];
}

fn loadA(i: u32, k: u32) -> f32 {
  switch (MODE) {
    case 0u: {
      let n = i / (OH * OW);
      let p = i % (OH * OW);
      let t = k % (KH * KW);
      return inputAt(0u, n, k / (KH * KW), p / OW, p % OW, t / KW, t % KW);
    }
    case 1u: {
      // gradOutput[n, o, oy, ox] where oy*S + ky - P == yy (and likewise x), else 0.
      let n = i / (H * W);
      let p = i % (H * W);
      let o = k / (KH * KW);
      let t = k % (KH * KW);
      let ty = i32(p / W + P) - i32(t / KW);
      let tx = i32(p % W + P) - i32(t % KW);
      if (ty < 0 || tx < 0 || ty % i32(S) != 0 || tx % i32(S) != 0) { return 0.0; }
      let oy = u32(ty) / S;
      let ox = u32(tx) / S;
      if (oy >= OH || ox >= OW) { return 0.0; }
      return x[((n * O + o) * OH + oy) * OW + ox];
    }
    default: {
      let n = k / (OH * OW);
      return x[(n * O + i) * OH * OW + k % (OH * OW)];
    }
  }
}

fn loadB(k: u32, j: u32) -> f32 {
  switch (MODE) {
    case 0u: { return y[j * GEMM_K + k]; }
    case 1u: {
      let o = k / (KH * KW);
      return y[(o * C + j) * KH * KW + k % (KH * KW)];
    }
    default: {
      let n = k / (OH * OW);
      let p = k % (OH * OW);
      let t = j % (KH * KW);
      return inputAt(1u, n, j / (KH * KW), p / OW, p % OW, t / KW, t % KW);
    }
  }
}

fn storeC(i: u32, j: u32, split: u32, sum: f32) {
  switch (MODE) {
    case 0u: {
      var v = sum;
      if (HAS_BIAS) { v += bias[j]; }
      if (RELU) { v = max(v, 0.0); }
      let n = i / (OH * OW);
      result[(n * O + j) * OH * OW + i % (OH * OW)] = v;
    }
    case 1u: {
      let n = i / (H * W);
      result[(n * C + j) * H * W + i % (H * W)] = sum;
    }
    default: { result[(split * GEMM_M + i) * GEMM_N + j] = sum; }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let group = wid.x + wid.y * nwg.x;
  let tiles = ((GEMM_M + TILE_M - 1u) / TILE_M) * ((GEMM_N + TILE_N - 1u) / TILE_N);
  if (group >= tiles * K_SPLITS) { return; }
  gemmTile(group, lid);
}
