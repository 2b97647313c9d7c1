// conv2d_forward_texture: what shaders/conv2d_forward.wgsl computes (stride 1, no padding), from
// textures packed by shaders/pack_texture.wgsl: the input as rows (n, c, y) of W floats, PAGE rows to a
// column of pages; the weights as rows (o, c, ky) of KW floats. Then bias, and max(0, .) when RELU.
// With POOL, the block's outputs are max-pooled 2x2 at stride 2 (maxpool2d_forward.wgsl's max: first
// of ties, NaN wins) and written channels-last to `pooled`, as shaders/pack_channels_last.wgsl packs a
// pooled output: the operand of shaders/conv2d_forward_implicit_gemm.wgsl, and no output round trip.
// bindings: 0 input: texture_2d<f32> (N*C*H rows of W4 texels, paged), 1 weight: texture_2d<f32>
//           (O*C*KH rows of KW4 texels), 2 bias: array<f32> [O] (read),
//           3 output: array<f32> [N, O, OH, OW] (read_write; unused with POOL),
//           4 pooled: texture_storage_2d<rgba32float, write> ((OH/2) * (OW/2) * ceil(O/4) x N texels;
//             unused without POOL)
// With POOL, one block holds every channel (OC_BLOCK = O) and an even number of rows.
// Each invocation computes OC_BLOCK output channels x ROWS output rows x 4*QX adjacent columns. Per
// (c, ky) it fetches ROWS input row segments of QX + KW4 texels and OC_BLOCK weight rows, then gives
// every output its KW taps in one chained expression (one masked store; see matmul_texture.wgsl on
// what costs what on lavapipe). Sums run over c, ky, kx in order from the bias, as in
// conv2d_forward.wgsl, so the two agree bit for bit.
// dispatch: ceil(N * O_BLOCKS * Y_BLOCKS * X_BLOCKS / WG) workgroups, split over x and y
//   (workgroupGrid), with O_BLOCKS = ceil(O / OC_BLOCK), Y_BLOCKS = ceil(OH / ROWS),
//   X_BLOCKS = ceil(OW / (4 * QX)). The grid's z count must be 1.

override N: u32;
override C: u32;
override H: u32;
override O: u32;
override KH: u32;
override KW: u32; // at most MAX_KW
override OH: u32;
override OW: u32;
override W4: u32; // texels per input row: ceil(W / 4)
override KW4: u32; // texels per weight row: ceil(KW / 4)
override PAGE: u32; // input rows per column of pages (the input texture's height)
override RELU: bool = false;
override POOL: bool = false;
override OC_BLOCK: u32 = 10u; // at most MAX_OC
override ROWS: u32 = 4u; // at most MAX_ROWS
override QX: u32 = 2u; // at most MAX_QX
override WG: u32 = 8u;
override O_BLOCKS: u32;
override Y_BLOCKS: u32;
override X_BLOCKS: u32;

const MAX_OC = 10u;
const MAX_ROWS = 4u;
const MAX_QX = 2u;
const MAX_COLS = 8u; // 4 * MAX_QX
const MAX_KW = 8u;
const MAX_T = 4u; // MAX_QX + MAX_KW / 4: texels of one input segment

@group(0) @binding(0) var input: texture_2d<f32>;
@group(0) @binding(1) var weight: texture_2d<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> output: array<f32>;
@group(0) @binding(4) var pooled: texture_storage_2d<rgba32float, write>;

// Indexed by constants only once the guarded statements fold, so they stay in registers.
var<private> acc: array<f32, MAX_OC * MAX_ROWS * MAX_COLS>;
var<private> seg: array<vec4f, MAX_ROWS * MAX_T>;

/** Texel q of input row `row` (valid); texels past the row's end read as zeros. */
fn inputTexel(row: u32, q: u32) -> vec4f {
  let texel = textureLoad(input, vec2u((row / PAGE) * W4 + min(q, W4 - 1u), row % PAGE), 0);
  return select(vec4f(0.0), texel, q < W4);
}

/** Segment r = input row (n, c, y) from texel q0 on. */
fn loadSegment(r: u32, row: u32, q0: u32) {
  let s = r * MAX_T;
  seg[s] = inputTexel(row, q0);
  seg[s + 1u] = inputTexel(row, q0 + 1u);
  if (QX + KW4 > 2u) { seg[s + 2u] = inputTexel(row, q0 + 2u); }
  if (QX + KW4 > 3u) { seg[s + 3u] = inputTexel(row, q0 + 3u); }
}

/** Element i of segment r (both constants at every call site). */
fn segAt(r: u32, i: u32) -> f32 {
  return seg[r * MAX_T + min(i / 4u, MAX_T - 1u)][i % 4u];
}

/** s + the KW taps of column j of segment r, chained in kx order. */
fn taps(r: u32, j: u32, w: array<vec4f, 2>, s: f32) -> f32 {
  var t = fma(w[0].x, segAt(r, j), s);
  if (KW > 1u) { t = fma(w[0].y, segAt(r, j + 1u), t); }
  if (KW > 2u) { t = fma(w[0].z, segAt(r, j + 2u), t); }
  if (KW > 3u) { t = fma(w[0].w, segAt(r, j + 3u), t); }
  if (KW > 4u) { t = fma(w[1].x, segAt(r, j + 4u), t); }
  if (KW > 5u) { t = fma(w[1].y, segAt(r, j + 5u), t); }
  if (KW > 6u) { t = fma(w[1].z, segAt(r, j + 6u), t); }
  if (KW > 7u) { t = fma(w[1].w, segAt(r, j + 7u), t); }
  return t;
}

/** Output row r of channel oc of the block += one kernel row of taps, for every column. */
fn rowTaps(oc: u32, r: u32, w: array<vec4f, 2>) {
  let a = (oc * MAX_ROWS + r) * MAX_COLS;
  acc[a + 0u] = taps(r, 0u, w, acc[a + 0u]);
  acc[a + 1u] = taps(r, 1u, w, acc[a + 1u]);
  acc[a + 2u] = taps(r, 2u, w, acc[a + 2u]);
  acc[a + 3u] = taps(r, 3u, w, acc[a + 3u]);
  if (QX > 1u) { acc[a + 4u] = taps(r, 4u, w, acc[a + 4u]); }
  if (QX > 1u) { acc[a + 5u] = taps(r, 5u, w, acc[a + 5u]); }
  if (QX > 1u) { acc[a + 6u] = taps(r, 6u, w, acc[a + 6u]); }
  if (QX > 1u) { acc[a + 7u] = taps(r, 7u, w, acc[a + 7u]); }
}

/** Channel oc of the block += kernel row ky of input channel c. */
fn channelTaps(oc: u32, o0: u32, c: u32, ky: u32) {
  let row = (min(o0 + oc, O - 1u) * C + c) * KH + ky;
  var w: array<vec4f, 2>;
  w[0] = textureLoad(weight, vec2u(0u, row), 0);
  if (KW4 > 1u) { w[1] = textureLoad(weight, vec2u(1u, row), 0); }
  rowTaps(oc, 0u, w);
  if (ROWS > 1u) { rowTaps(oc, 1u, w); }
  if (ROWS > 2u) { rowTaps(oc, 2u, w); }
  if (ROWS > 3u) { rowTaps(oc, 3u, w); }
}

/** Every output of channel oc of the block starts at bias b. */
fn initChannel(oc: u32, b: f32) {
  let a = oc * MAX_ROWS * MAX_COLS;
  acc[a + 0u] = b;
  acc[a + 1u] = b;
  acc[a + 2u] = b;
  acc[a + 3u] = b;
  if (QX > 1u) { acc[a + 4u] = b; }
  if (QX > 1u) { acc[a + 5u] = b; }
  if (QX > 1u) { acc[a + 6u] = b; }
  if (QX > 1u) { acc[a + 7u] = b; }
  if (ROWS > 1u) { acc[a + 8u] = b; }
  if (ROWS > 1u) { acc[a + 9u] = b; }
  if (ROWS > 1u) { acc[a + 10u] = b; }
  if (ROWS > 1u) { acc[a + 11u] = b; }
  if (ROWS > 1u && QX > 1u) { acc[a + 12u] = b; }
  if (ROWS > 1u && QX > 1u) { acc[a + 13u] = b; }
  if (ROWS > 1u && QX > 1u) { acc[a + 14u] = b; }
  if (ROWS > 1u && QX > 1u) { acc[a + 15u] = b; }
  if (ROWS > 2u) { acc[a + 16u] = b; }
  if (ROWS > 2u) { acc[a + 17u] = b; }
  if (ROWS > 2u) { acc[a + 18u] = b; }
  if (ROWS > 2u) { acc[a + 19u] = b; }
  if (ROWS > 2u && QX > 1u) { acc[a + 20u] = b; }
  if (ROWS > 2u && QX > 1u) { acc[a + 21u] = b; }
  if (ROWS > 2u && QX > 1u) { acc[a + 22u] = b; }
  if (ROWS > 2u && QX > 1u) { acc[a + 23u] = b; }
  if (ROWS > 3u) { acc[a + 24u] = b; }
  if (ROWS > 3u) { acc[a + 25u] = b; }
  if (ROWS > 3u) { acc[a + 26u] = b; }
  if (ROWS > 3u) { acc[a + 27u] = b; }
  if (ROWS > 3u && QX > 1u) { acc[a + 28u] = b; }
  if (ROWS > 3u && QX > 1u) { acc[a + 29u] = b; }
  if (ROWS > 3u && QX > 1u) { acc[a + 30u] = b; }
  if (ROWS > 3u && QX > 1u) { acc[a + 31u] = b; }
}

// #include "is_nan.wgsl"

/** Output (r, j) of channel oc of the block, after the ReLU when RELU; 0 past the last channel (padding). */
fn activated(staged: ptr<function, array<f32, MAX_OC * MAX_ROWS * MAX_COLS>>, oc: u32, r: u32, j: u32) -> f32 {
  if (oc >= O) { return 0.0; }
  let v = (*staged)[(oc * MAX_ROWS + r) * MAX_COLS + j];
  return select(v, max(v, 0.0), RELU);
}

/** The max of window (pr, pc) of channel oc of the block, in row-major window order. */
fn windowMax(staged: ptr<function, array<f32, MAX_OC * MAX_ROWS * MAX_COLS>>, oc: u32, pr: u32, pc: u32) -> f32 {
  var best = activated(staged, oc, 2u * pr, 2u * pc);
  let others = array<f32, 3>(activated(staged, oc, 2u * pr, 2u * pc + 1u), activated(staged, oc, 2u * pr + 1u, 2u * pc),
    activated(staged, oc, 2u * pr + 1u, 2u * pc + 1u));
  for (var i = 0u; i < 3u; i++) {
    if (others[i] > best || is_nan(others[i])) { best = others[i]; }
  }
  return best;
}

/** The block's pooled outputs, channels-last: texel ((py * OW/2 + px) * C4 + g, n) holds channels 4g .. 4g+3. */
fn storePooled(staged: ptr<function, array<f32, MAX_OC * MAX_ROWS * MAX_COLS>>, n: u32, y0: u32, q0: u32, rolled: u32) {
  let ph = OH / 2u;
  let pw = OW / 2u;
  let c4 = (O + 3u) / 4u;
  let cols = 2u * QX;
  for (var a = 0u; a < (ROWS / 2u) * cols * c4 * rolled; a++) {
    let g = a % c4;
    let pc = (a / c4) % cols;
    let pr = a / (c4 * cols);
    let py = y0 / 2u + pr;
    let px = 2u * q0 + pc;
    if (py < ph && px < pw) {
      let c = 4u * g;
      let texel = vec4f(windowMax(staged, c, pr, pc), windowMax(staged, c + 1u, pr, pc), windowMax(staged, c + 2u, pr, pc),
        windowMax(staged, c + 3u, pr, pc));
      textureStore(pooled, vec2u((py * pw + px) * c4 + g, n), texel);
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  // Loops over c and ky and the stores run nwg.z (= 1) times as often, so that they stay rolled (see
  // conv2d_forward.wgsl).
  let rolled = nwg.z;
  let index = (wid.x + wid.y * nwg.x) * WG + lid;
  // Invocations past the end compute block 0 and store nothing (no divergent return before the loads).
  let inRange = index < N * O_BLOCKS * Y_BLOCKS * X_BLOCKS;
  let block = select(0u, index, inRange);
  let q0 = (block % X_BLOCKS) * QX;
  let y0 = ((block / X_BLOCKS) % Y_BLOCKS) * ROWS;
  let o0 = ((block / (X_BLOCKS * Y_BLOCKS)) % O_BLOCKS) * OC_BLOCK;
  let n = block / (X_BLOCKS * Y_BLOCKS * O_BLOCKS);

  initChannel(0u, bias[min(o0 + 0u, O - 1u)]);
  if (OC_BLOCK > 1u) { initChannel(1u, bias[min(o0 + 1u, O - 1u)]); }
  if (OC_BLOCK > 2u) { initChannel(2u, bias[min(o0 + 2u, O - 1u)]); }
  if (OC_BLOCK > 3u) { initChannel(3u, bias[min(o0 + 3u, O - 1u)]); }
  if (OC_BLOCK > 4u) { initChannel(4u, bias[min(o0 + 4u, O - 1u)]); }
  if (OC_BLOCK > 5u) { initChannel(5u, bias[min(o0 + 5u, O - 1u)]); }
  if (OC_BLOCK > 6u) { initChannel(6u, bias[min(o0 + 6u, O - 1u)]); }
  if (OC_BLOCK > 7u) { initChannel(7u, bias[min(o0 + 7u, O - 1u)]); }
  if (OC_BLOCK > 8u) { initChannel(8u, bias[min(o0 + 8u, O - 1u)]); }
  if (OC_BLOCK > 9u) { initChannel(9u, bias[min(o0 + 9u, O - 1u)]); }

  for (var c = 0u; c < C * rolled; c++) {
    for (var ky = 0u; ky < KH * rolled; ky++) {
      // Input rows past the image (only for output rows past OH, never stored) are clamped.
      let rows = (n * C + c) * H;
      loadSegment(0u, rows + min(y0 + ky, H - 1u), q0);
      if (ROWS > 1u) { loadSegment(1u, rows + min(y0 + 1u + ky, H - 1u), q0); }
      if (ROWS > 2u) { loadSegment(2u, rows + min(y0 + 2u + ky, H - 1u), q0); }
      if (ROWS > 3u) { loadSegment(3u, rows + min(y0 + 3u + ky, H - 1u), q0); }
      channelTaps(0u, o0, c, ky);
      if (OC_BLOCK > 1u) { channelTaps(1u, o0, c, ky); }
      if (OC_BLOCK > 2u) { channelTaps(2u, o0, c, ky); }
      if (OC_BLOCK > 3u) { channelTaps(3u, o0, c, ky); }
      if (OC_BLOCK > 4u) { channelTaps(4u, o0, c, ky); }
      if (OC_BLOCK > 5u) { channelTaps(5u, o0, c, ky); }
      if (OC_BLOCK > 6u) { channelTaps(6u, o0, c, ky); }
      if (OC_BLOCK > 7u) { channelTaps(7u, o0, c, ky); }
      if (OC_BLOCK > 8u) { channelTaps(8u, o0, c, ky); }
      if (OC_BLOCK > 9u) { channelTaps(9u, o0, c, ky); }
    }
  }

  if (!inRange) { return; }
  // One store site in a rolled loop; `staged` is indexed dynamically, `acc` stays in registers.
  var staged = acc;
  if (POOL) {
    storePooled(&staged, n, y0, q0, rolled);
    return;
  }
  let cols = 4u * QX;
  for (var a = 0u; a < OC_BLOCK * ROWS * cols * rolled; a++) {
    let oc = a / (ROWS * cols);
    let r = (a / cols) % ROWS;
    let j = a % cols;
    let o = o0 + oc;
    let y = y0 + r;
    let x = 4u * q0 + j;
    if (o < O && y < OH && x < OW) {
      var v = staged[(oc * MAX_ROWS + r) * MAX_COLS + j];
      if (RELU) { v = max(v, 0.0); }
      output[((n * O + o) * OH + y) * OW + x] = v;
    }
  }
}
