// conv2d_texture_gemm: a stride-1 convolution of zero-padded planes as a matrix product from textures,
// without materializing the im2col matrix: the training kernels of wide convolutions on CPU drivers.
// The forward reads the input packed with the layer's padding and the weights packed channels-last;
// the input gradient is the same product over the output gradient padded by KH - 1 - padding, with the
// weights flipped and transposed (shaders/conv2d_texture_gemm_pack.wgsl packs all three).
// Row (n, p) of the implicit matrix is output position p = y * OW + x of item n, column o is output
// channel o, and k runs over (ky, kx, g): the input's texel at (x + kx) * C4 + g, y + ky of item n's
// tile against the weights' texel (ky * KW + kx) * C4 + g of row o. The sum, + bias[o] when HAS_BIAS,
// then max(0, .) when RELU, is stored to output[n, o, y, x] (NCHW).
// Each invocation computes ROWS adjacent positions of one item x COLS output channels; each
// accumulator takes a texel pair's 4 products in one chained expression (register_block.wgsl). Sums
// run over ky, kx, c in order from 0, bias last: not the buffer kernels' order, so the results agree
// with them to rounding, not bit for bit.
// bindings: 0 input: texture_2d<f32> (tiles of (OW + KW - 1) * C4 x (OH + KH - 1) texels, PER_ROW to a
//           row of tiles), 1 weight: texture_2d<f32> (KH * KW * C4 x O), 2 bias: array<f32> [O] (read),
//           3 output: array<f32> [N, O, OH, OW] (read_write)
// dispatch: ceil(N * ROW_BLOCKS * COL_BLOCKS / WG) workgroups, split over x and y (see workgroupGrid),
//   where ROW_BLOCKS = ceil(OH * OW / ROWS), COL_BLOCKS = ceil(O / COLS).

override N: u32;
override C4: u32;      // texels per input position: ceil(input channels / 4)
override O: u32;
override KH: u32;
override KW: u32;
override OH: u32;
override OW: u32;
override PER_ROW: u32; // tiles per texture row
override HAS_BIAS: bool = true;
override RELU: bool = false;
override ROWS: u32 = 12u; // at most MAX_ROWS
override COLS: u32 = 24u; // at most MAX_COLS
override WG: u32 = 8u;
override ROW_BLOCKS: u32;
override COL_BLOCKS: u32;

// #include "register_block.wgsl"
// #include "weight_columns.wgsl"

@group(0) @binding(0) var input: texture_2d<f32>;
@group(0) @binding(1) var weight: texture_2d<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> output: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let block = (wid.x + wid.y * nwg.x) * WG + lid;
  if (block >= N * ROW_BLOCKS * COL_BLOCKS) { return; }
  let p0 = (block % ROW_BLOCKS) * ROWS;
  let o0 = ((block / ROW_BLOCKS) % COL_BLOCKS) * COLS;
  let n = block / (ROW_BLOCKS * COL_BLOCKS);
  let positions = OH * OW;

  // Where each row's receptive field starts in item n's tile. Positions past the item (in a ragged
  // last block) read the last one's; their sums are not stored.
  let tileW = (OW + KW - 1u) * C4;
  let tileX = (n % PER_ROW) * tileW;
  let tileY = (n / PER_ROW) * (OH + KH - 1u);
  var ox: array<u32, MAX_ROWS>;
  var oy: array<u32, MAX_ROWS>;
  for (var r = 0u; r < ROWS; r++) {
    let p = min(p0 + r, positions - 1u);
    ox[r] = tileX + (p % OW) * C4;
    oy[r] = tileY + p / OW;
  }

  for (var t = 0u; t < KH * KW * C4; t++) {
    let g = t % C4;
    let kx = (t / C4) % KW;
    let dx = kx * C4 + g;
    let dy = t / (C4 * KW);
    var as_: array<vec4f, MAX_ROWS>;
    // Written out, as the fma block is (see register_block.wgsl), so wgpu's SPIR-V unrolls too.
    as_[0] = textureLoad(input, vec2u(ox[0] + dx, oy[0] + dy), 0);
    if (ROWS > 1u) { as_[1] = textureLoad(input, vec2u(ox[1] + dx, oy[1] + dy), 0); }
    if (ROWS > 2u) { as_[2] = textureLoad(input, vec2u(ox[2] + dx, oy[2] + dy), 0); }
    if (ROWS > 3u) { as_[3] = textureLoad(input, vec2u(ox[3] + dx, oy[3] + dy), 0); }
    if (ROWS > 4u) { as_[4] = textureLoad(input, vec2u(ox[4] + dx, oy[4] + dy), 0); }
    if (ROWS > 5u) { as_[5] = textureLoad(input, vec2u(ox[5] + dx, oy[5] + dy), 0); }
    if (ROWS > 6u) { as_[6] = textureLoad(input, vec2u(ox[6] + dx, oy[6] + dy), 0); }
    if (ROWS > 7u) { as_[7] = textureLoad(input, vec2u(ox[7] + dx, oy[7] + dy), 0); }
    if (ROWS > 8u) { as_[8] = textureLoad(input, vec2u(ox[8] + dx, oy[8] + dy), 0); }
    if (ROWS > 9u) { as_[9] = textureLoad(input, vec2u(ox[9] + dx, oy[9] + dy), 0); }
    if (ROWS > 10u) { as_[10] = textureLoad(input, vec2u(ox[10] + dx, oy[10] + dy), 0); }
    if (ROWS > 11u) { as_[11] = textureLoad(input, vec2u(ox[11] + dx, oy[11] + dy), 0); }
    if (ROWS > 12u) { as_[12] = textureLoad(input, vec2u(ox[12] + dx, oy[12] + dy), 0); }
    if (ROWS > 13u) { as_[13] = textureLoad(input, vec2u(ox[13] + dx, oy[13] + dy), 0); }
    if (ROWS > 14u) { as_[14] = textureLoad(input, vec2u(ox[14] + dx, oy[14] + dy), 0); }
    if (ROWS > 15u) { as_[15] = textureLoad(input, vec2u(ox[15] + dx, oy[15] + dy), 0); }
    if (ROWS > 16u) { as_[16] = textureLoad(input, vec2u(ox[16] + dx, oy[16] + dy), 0); }
    if (ROWS > 17u) { as_[17] = textureLoad(input, vec2u(ox[17] + dx, oy[17] + dy), 0); }
    if (ROWS > 18u) { as_[18] = textureLoad(input, vec2u(ox[18] + dx, oy[18] + dy), 0); }
    if (ROWS > 19u) { as_[19] = textureLoad(input, vec2u(ox[19] + dx, oy[19] + dy), 0); }
    if (ROWS > 20u) { as_[20] = textureLoad(input, vec2u(ox[20] + dx, oy[20] + dy), 0); }
    if (ROWS > 21u) { as_[21] = textureLoad(input, vec2u(ox[21] + dx, oy[21] + dy), 0); }
    if (ROWS > 22u) { as_[22] = textureLoad(input, vec2u(ox[22] + dx, oy[22] + dy), 0); }
    if (ROWS > 23u) { as_[23] = textureLoad(input, vec2u(ox[23] + dx, oy[23] + dy), 0); }
    let bs = loadWeightColumns(t, o0);
    dotRows8(0u, as_, bs);
    if (ROWS > 8u) { dotRows8(8u, as_, bs); }
    if (ROWS > 16u) { dotRows8(16u, as_, bs); }
  }

  // One store site in a rolled loop; `staged` is indexed dynamically, `acc` stays in registers.
  var staged = acc;
  for (var a = 0u; a < ROWS * COLS; a++) {
    let r = a / COLS;
    let j = a % COLS;
    let p = p0 + r;
    let o = o0 + j;
    if (p < positions && o < O) {
      var v = staged[r * MAX_COLS + j];
      if (HAS_BIAS) { v += bias[o]; }
      if (RELU) { v = max(v, 0.0); }
      output[(n * O + o) * positions + p] = v;
    }
  }
}
