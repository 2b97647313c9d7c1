// conv2d_forward_implicit_gemm: what shaders/conv2d_forward.wgsl computes for stride 1 and no padding,
// as a matrix product from textures, without materializing the im2col matrix. Row (n, p) of the
// implicit matrix is the receptive field of output position p = y * OW + x of image n, column o is
// output channel o, and k runs over (ky, kx, g): its texel is the input's texel
// ((y + ky) * W + x + kx) * C4 + g of image n (channels 4g .. 4g+3, packed channels-last by
// shaders/pack_channels_last.wgsl), against the weights' texel (ky * KW + kx) * C4 + g of row o (packed
// by the same kernel). The result, + bias, then max(0, .) when RELU, is written as
// shaders/pack_texture.wgsl would pack the output flattened per image, [N, O * OH * OW]: the operand of
// the texture product of a linear layer that follows (the network's flatten).
// bindings: 0 input: texture_2d<f32> (H * W * C4 x N texels), 1 weight: texture_2d<f32>
//           (KH * KW * C4 x O), 2 bias: array<f32> [O] (read),
//           3 output: texture_storage_2d<rgba32float, write> (O * OH * OW / 4 x N)
// Each invocation computes ROWS adjacent positions of one image (ROWS and OH * OW multiples of 4, so
// that every texel it writes is whole) x COLS output channels. As in matmul_texture.wgsl, each
// accumulator takes a texel pair's 4 products in one chained expression (one masked store per 4 fma).
// Sums run over ky, kx, c in order from 0, then + bias: not conv2d_forward.wgsl's order (c, ky, kx
// from the bias), so the two agree to rounding, not bit for bit.
// dispatch: ceil(N * ROW_BLOCKS * COL_BLOCKS / WG) workgroups, split over x and y (see workgroupGrid),
//   where ROW_BLOCKS = ceil(OH * OW / ROWS), COL_BLOCKS = ceil(O / COLS).

override N: u32;
override W: u32;
override C4: u32; // texels per input position: ceil(C / 4)
override O: u32;
override KH: u32;
override KW: u32;
override OW: u32;
override P: u32; // output positions per image: OH * OW, a multiple of 4
override RELU: bool = false;
override ROWS: u32 = 20u; // a multiple of 4, at most MAX_ROWS
override COLS: u32 = 20u; // at most MAX_COLS
override WG: u32 = 8u;
override ROW_BLOCKS: u32;
override COL_BLOCKS: u32;

// #include "register_block.wgsl"
// #include "weight_columns.wgsl"

@group(0) @binding(0) var input: texture_2d<f32>;
@group(0) @binding(1) var weight: texture_2d<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var output: texture_storage_2d<rgba32float, write>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let block = (wid.x + wid.y * nwg.x) * WG + lid;
  if (block >= N * ROW_BLOCKS * COL_BLOCKS) { return; }
  let p0 = (block % ROW_BLOCKS) * ROWS;
  let o0 = ((block / ROW_BLOCKS) % COL_BLOCKS) * COLS;
  let n = block / (ROW_BLOCKS * COL_BLOCKS);

  // Where each row's receptive field starts in the input row. Positions past the image (in a ragged
  // last block) read the last one's; their sums are not stored.
  var origin: array<u32, MAX_ROWS>;
  for (var r = 0u; r < ROWS; r++) {
    let p = min(p0 + r, P - 1u);
    origin[r] = ((p / OW) * W + p % OW) * C4;
  }

  for (var t = 0u; t < KH * KW * C4; t++) {
    let g = t % C4;
    let kx = (t / C4) % KW;
    let ky = t / (C4 * KW);
    let offset = (ky * W + kx) * C4 + g;
    var as_: array<vec4f, MAX_ROWS>;
    // Written out, as the fma block is (see register_block.wgsl), so wgpu's SPIR-V unrolls too.
    as_[0] = textureLoad(input, vec2u(origin[0] + offset, n), 0);
    if (ROWS > 1u) { as_[1] = textureLoad(input, vec2u(origin[1] + offset, n), 0); }
    if (ROWS > 2u) { as_[2] = textureLoad(input, vec2u(origin[2] + offset, n), 0); }
    if (ROWS > 3u) { as_[3] = textureLoad(input, vec2u(origin[3] + offset, n), 0); }
    if (ROWS > 4u) { as_[4] = textureLoad(input, vec2u(origin[4] + offset, n), 0); }
    if (ROWS > 5u) { as_[5] = textureLoad(input, vec2u(origin[5] + offset, n), 0); }
    if (ROWS > 6u) { as_[6] = textureLoad(input, vec2u(origin[6] + offset, n), 0); }
    if (ROWS > 7u) { as_[7] = textureLoad(input, vec2u(origin[7] + offset, n), 0); }
    if (ROWS > 8u) { as_[8] = textureLoad(input, vec2u(origin[8] + offset, n), 0); }
    if (ROWS > 9u) { as_[9] = textureLoad(input, vec2u(origin[9] + offset, n), 0); }
    if (ROWS > 10u) { as_[10] = textureLoad(input, vec2u(origin[10] + offset, n), 0); }
    if (ROWS > 11u) { as_[11] = textureLoad(input, vec2u(origin[11] + offset, n), 0); }
    if (ROWS > 12u) { as_[12] = textureLoad(input, vec2u(origin[12] + offset, n), 0); }
    if (ROWS > 13u) { as_[13] = textureLoad(input, vec2u(origin[13] + offset, n), 0); }
    if (ROWS > 14u) { as_[14] = textureLoad(input, vec2u(origin[14] + offset, n), 0); }
    if (ROWS > 15u) { as_[15] = textureLoad(input, vec2u(origin[15] + offset, n), 0); }
    if (ROWS > 16u) { as_[16] = textureLoad(input, vec2u(origin[16] + offset, n), 0); }
    if (ROWS > 17u) { as_[17] = textureLoad(input, vec2u(origin[17] + offset, n), 0); }
    if (ROWS > 18u) { as_[18] = textureLoad(input, vec2u(origin[18] + offset, n), 0); }
    if (ROWS > 19u) { as_[19] = textureLoad(input, vec2u(origin[19] + offset, n), 0); }
    if (ROWS > 20u) { as_[20] = textureLoad(input, vec2u(origin[20] + offset, n), 0); }
    if (ROWS > 21u) { as_[21] = textureLoad(input, vec2u(origin[21] + offset, n), 0); }
    if (ROWS > 22u) { as_[22] = textureLoad(input, vec2u(origin[22] + offset, n), 0); }
    if (ROWS > 23u) { as_[23] = textureLoad(input, vec2u(origin[23] + offset, n), 0); }
    let bs = loadWeightColumns(t, o0);
    dotRows8(0u, as_, bs);
    if (ROWS > 8u) { dotRows8(8u, as_, bs); }
    if (ROWS > 16u) { dotRows8(16u, as_, bs); }
  }

  // Texel (o * P + p) / 4 of row n holds positions p .. p+3 of channel o.
  for (var r = 0u; r < ROWS; r += 4u) {
    let p = p0 + r;
    if (p >= P) { break; }
    for (var j = 0u; j < COLS; j++) {
      let o = o0 + j;
      if (o >= O) { break; }
      let a = r * MAX_COLS + j;
      var v = vec4f(acc[a], acc[a + MAX_COLS], acc[a + 2u * MAX_COLS], acc[a + 3u * MAX_COLS]) + bias[o];
      if (RELU) { v = max(v, vec4f(0.0)); }
      textureStore(output, vec2u((o * P + p) / 4u, n), v);
    }
  }
}
