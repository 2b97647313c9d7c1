// conv2d_backward_input: gradInput[n,c,iy,ix] = sum over o, ky, kx of
//   gradOutput[n, o, y, x] * weight[o,c,ky,kx]   where y*S - P + ky = iy, x*S - P + kx = ix,
// 0 <= y < OH and 0 <= x < OW. A gather: each gradInput element is summed by one invocation in a
// fixed order, so results are deterministic. Overwrites gradInput.
// bindings: 0 gradOutput: array<f32> [N, O, OH, OW] (read)
//           1 weight:     array<f32> [O, C, KH, KW]  (read)
//           2 gradInput:  array<f32> [N, C, H, W]    (read_write)
// Seen from gradInput this is a correlation of gradOutput, dilated by S (S - 1 zeros between
// elements) and padded by KW - 1 - P, with the kernel flipped. Each invocation keeps a register block
// of IC_BLOCK input channels x ROWS rows x COLS adjacent columns of gradInput; per (o, ky) it loads one
// segment of each dilated gradOutput row and slides it along kx in registers, as conv2d_forward does.
// dispatch: ceil(C / IC_BLOCK) * GROUPS_PER_BLOCK workgroups, split over x and y (workgroupGrid), where
//   GROUPS_PER_BLOCK = ceil(N * ceil(H / ROWS) * ceil(W / COLS) / WG). The grid's z count must be 1.

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
override IC_BLOCK: u32 = 4u; // IC_BLOCK * ROWS * COLS at most MAX_ACC
override ROWS: u32 = 1u;     // at most MAX_ROWS
override COLS: u32 = 8u;     // COLS - 1 + KW at most MAX_SEGMENT
override WG: u32 = 64u;
override GROUPS_PER_BLOCK: u32;

const MAX_ACC = 64u;
const MAX_ROWS = 4u;
const MAX_SEGMENT = 32u;

@group(0) @binding(0) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> gradInput: array<f32>;

/** Where dilated coordinate t = out * S lands in an axis of `size` outputs: (out, 1) or (any, 0). */
fn undilate(t: i32, size: u32) -> vec2u {
  let out = u32(max(t, 0)) / S;
  let exists = t >= 0 && u32(t) % S == 0u && out < size;
  return vec2u(min(out, size - 1u), u32(exists));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  // nwg.z is 1: trip counts times it keep loops rolled (see conv2d_forward.wgsl).
  let rolled = nwg.z;
  let group = wid.x + wid.y * nwg.x;
  let c0 = (group / GROUPS_PER_BLOCK) * IC_BLOCK;
  let colBlocks = (W + COLS - 1u) / COLS;
  let rowBlocks = (H + ROWS - 1u) / ROWS;
  let index = (group % GROUPS_PER_BLOCK) * WG + lid;
  // Out-of-range invocations compute block 0 and store nothing (no early return, as in the forward).
  let inRange = c0 < C && index < N * rowBlocks * colBlocks;
  let block = select(0u, index, inRange);
  let ix0 = (block % colBlocks) * COLS;
  let iy0 = ((block / colBlocks) % rowBlocks) * ROWS;
  let n = block / (colBlocks * rowBlocks);
  let segment = COLS - 1u + KW;

  var acc: array<f32, MAX_ACC>;
  // Dilated column of segment element 0: ix0 + P - (KW - 1).
  let t0 = i32(ix0 + P) - i32(KW - 1u);
  for (var o = 0u; o < O * rolled; o++) {
    for (var ky = 0u; ky < KH * rolled; ky++) {
      // seg[r][i] = dilated gradOutput[n, o, row iy0 + r + P - ky, column t0 + i].
      var seg: array<f32, MAX_ROWS * MAX_SEGMENT>;
      for (var r = 0u; r < ROWS; r++) {
        let yAt = undilate(i32(iy0 + r + P) - i32(ky), OH);
        let rowStart = ((n * O + o) * OH + yAt.x) * OW;
        for (var i = 0u; i < segment; i++) {
          let xAt = undilate(t0 + i32(i), OW);
          seg[r * MAX_SEGMENT + i] = select(0.0, gradOutput[rowStart + xAt.x], (yAt.y & xAt.y) != 0u);
        }
      }
      // Tap kx = KW - 1 - k pairs column j with segment element j + k.
      let tap = ky * KW + KW - 1u;
      for (var k = 0u; k < KW * rolled; k++) {
        for (var ic = 0u; ic < IC_BLOCK; ic++) {
          // Channels past C (last block) read a clamped weight; their sums are never stored.
          let w = weight[(o * C + min(c0 + ic, C - 1u)) * KH * KW + tap - k];
          for (var r = 0u; r < ROWS; r++) {
            for (var j = 0u; j < COLS; j++) {
              let a = (ic * ROWS + r) * COLS + j;
              acc[a] = fma(w, seg[r * MAX_SEGMENT + j], acc[a]);
            }
          }
        }
        for (var r = 0u; r < ROWS; r++) {
          for (var i = 0u; i + 1u < segment; i++) { seg[r * MAX_SEGMENT + i] = seg[r * MAX_SEGMENT + i + 1u]; }
        }
      }
    }
  }

  if (!inRange) { return; }
  var staged = acc;
  for (var a = 0u; a < IC_BLOCK * ROWS * COLS * rolled; a++) {
    let c = c0 + a / (ROWS * COLS);
    let iy = iy0 + (a / COLS) % ROWS;
    let ix = ix0 + a % COLS;
    if (c < C && iy < H && ix < W) {
      gradInput[((n * C + c) * H + iy) * W + ix] = staged[a];
    }
  }
}
