// conv2d_forward: output[n,o,y,x] = bias[o] + sum over c, ky, kx of
//   weight[o,c,ky,kx] * input[n, c, y*S - P + ky, x*S - P + kx]   (zero outside the input),
// then max(0, .) when RELU. Cross-correlation, as PyTorch's Conv2d.
// bindings: 0 input:  array<f32> [N, C, H, W]    (read)
//           1 weight: array<f32> [O, C, KH, KW]  (read)
//           2 bias:   array<f32> [O]             (read)
//           3 output: array<f32> [N, O, OH, OW]  (read_write)
// Each invocation keeps a register block of OC_BLOCK output channels x ROWS output rows x COLS adjacent
// output columns. Per (c, ky) it loads each input row segment once and slides it along kx in
// registers, so that each load feeds many fmas: on lavapipe a load costs as much as dozens of fmas.
// dispatch: ceil(O / OC_BLOCK) * GROUPS_PER_BLOCK workgroups, split over x and y (workgroupGrid), where
//   GROUPS_PER_BLOCK = ceil(N * ceil(OH / ROWS) * ceil(OW / COLS) / WG). The grid's z count must be 1.

override N: u32;
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
override RELU: bool = false;
override OC_BLOCK: u32 = 4u; // OC_BLOCK * ROWS * COLS at most MAX_ACC
override ROWS: u32 = 1u;     // at most MAX_ROWS
override COLS: u32 = 8u;     // (COLS - 1) * S + KW at most MAX_SEGMENT
override WG: u32 = 64u;
override GROUPS_PER_BLOCK: u32;

const MAX_ACC = 64u;
const MAX_ROWS = 4u;
const MAX_SEGMENT = 32u;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> output: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  // Loops over c, ky, kx and the stores run nwg.z (= 1) times as often: a trip count the compiler
  // cannot see keeps them rolled. Unrolled, lavapipe emits so much code per load and store site
  // that compiling takes seconds, for no measurable gain in speed.
  let rolled = nwg.z;
  let group = wid.x + wid.y * nwg.x;
  let o0 = (group / GROUPS_PER_BLOCK) * OC_BLOCK;
  let colBlocks = (OW + COLS - 1u) / COLS;
  let rowBlocks = (OH + ROWS - 1u) / ROWS;
  let index = (group % GROUPS_PER_BLOCK) * WG + lid;
  // Invocations past the end compute block 0 and store nothing: returning here would put every load
  // below under a divergent mask, which lavapipe turns into slower code.
  let inRange = o0 < O && index < N * rowBlocks * colBlocks;
  let block = select(0u, index, inRange);
  let x0 = (block % colBlocks) * COLS;
  let y0 = ((block / colBlocks) % rowBlocks) * ROWS;
  let n = block / (colBlocks * rowBlocks);
  let segment = (COLS - 1u) * S + KW;

  var acc: array<f32, MAX_ACC>;
  for (var oc = 0u; oc < OC_BLOCK; oc++) {
    let b = bias[min(o0 + oc, O - 1u)];
    for (var r = 0u; r < ROWS; r++) {
      for (var j = 0u; j < COLS; j++) { acc[(oc * ROWS + r) * COLS + j] = b; }
    }
  }

  let ix0 = i32(x0 * S) - i32(P);
  for (var c = 0u; c < C * rolled; c++) {
    for (var ky = 0u; ky < KH * rolled; ky++) {
      // seg[r][i] = input[n, c, (y0 + r)*S - P + ky, x0*S - P + i], zero outside the input.
      var seg: array<f32, MAX_ROWS * MAX_SEGMENT>;
      for (var r = 0u; r < ROWS; r++) {
        let iy = i32((y0 + r) * S + ky) - i32(P);
        let rowInside = iy >= 0 && iy < i32(H);
        let rowStart = ((n * C + c) * H + u32(clamp(iy, 0, i32(H) - 1))) * W;
        for (var i = 0u; i < segment; i++) {
          let ix = ix0 + i32(i);
          let value = input[rowStart + u32(clamp(ix, 0, i32(W) - 1))];
          seg[r * MAX_SEGMENT + i] = select(0.0, value, rowInside && ix >= 0 && ix < i32(W));
        }
      }
      let tap = (c * KH + ky) * KW;
      for (var kx = 0u; kx < KW * rolled; kx++) {
        for (var oc = 0u; oc < OC_BLOCK; oc++) {
          // Channels past O (last block) read a clamped weight; their sums are never stored.
          let w = weight[min(o0 + oc, O - 1u) * C * KH * KW + tap + kx];
          for (var r = 0u; r < ROWS; r++) {
            for (var j = 0u; j < COLS; j++) {
              let a = (oc * ROWS + r) * COLS + j;
              acc[a] = fma(w, seg[r * MAX_SEGMENT + j * S], acc[a]);
            }
          }
        }
        // Slide: element i + 1 becomes element i, the input column of the next kx.
        for (var r = 0u; r < ROWS; r++) {
          for (var i = 0u; i + 1u < segment; i++) { seg[r * MAX_SEGMENT + i] = seg[r * MAX_SEGMENT + i + 1u]; }
        }
      }
    }
  }

  if (!inRange) { return; }
  // One store site in a rolled loop; `staged` is indexed dynamically, `acc` stays in registers.
  var staged = acc;
  for (var a = 0u; a < OC_BLOCK * ROWS * COLS * rolled; a++) {
    let o = o0 + a / (ROWS * COLS);
    let y = y0 + (a / COLS) % ROWS;
    let x = x0 + a % COLS;
    if (o < O && y < OH && x < OW) {
      var v = staged[a];
      if (RELU) { v = max(v, 0.0); }
      output[((n * O + o) * OH + y) * OW + x] = v;
    }
  }
}
