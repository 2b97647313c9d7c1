// conv2d_backward_input: gradInput[n,c,iy,ix] = sum over o, ky, kx of
//   gradOutput[n, o, y, x] * weight[o,c,ky,kx]   where y*S - P + ky = iy, x*S - P + kx = ix,
// 0 <= y < OH and 0 <= x < OW. A gather: each gradInput element is summed by one invocation in a
// fixed order, so results are deterministic. Overwrites gradInput.
// bindings: 0 gradOutput: array<f32> [N, O, OH, OW] (read)
//           1 weight:     array<f32> [O, C, KH, KW]  (read)
//           2 gradInput:  array<f32> [N, C, H, W]    (read_write)
// Seen from gradInput this is a correlation of gradOutput, dilated by S (S - 1 zeros between
// elements) and padded by KW - 1 - P, with the kernel flipped. Each invocation keeps a register block
// of IC_BLOCK input channels x COLS adjacent columns of one gradInput row; per (o, ky) it loads one
// segment of a dilated gradOutput row and slides it along the taps, as conv2d_forward does.
// dispatch: ceil(C / IC_BLOCK) * GROUPS_PER_BLOCK workgroups, split over x and y (workgroupGrid), where
//   GROUPS_PER_BLOCK = ceil(N * H * ceil(W / COLS) / WG). The grid's z count must be 1.

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
override IC_BLOCK: u32 = 4u; // at most MAX_IC
override COLS: u32 = 8u;     // at most MAX_COLS, and COLS - 1 + KW at most MAX_SEGMENT
override WG: u32 = 64u;
override GROUPS_PER_BLOCK: u32;

const MAX_IC = 8u;
const MAX_COLS = 16u;

@group(0) @binding(0) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> gradInput: array<f32>;

// Register block and input segment (shaders/include/segment.wgsl: seg, slide, loadSegment). They must
// only ever be indexed by constants, or they leave registers for memory. Mesa unrolls constant-trip
// loops, but not those in the SPIR-V of wgpu (Deno), which adds loop-bound counters; so the code
// touching them is written out, one statement per element, guarded by conditions that the override
// constants fold away.
// #include "segment.wgsl"
var<private> acc: array<f32, MAX_IC * MAX_COLS>;

fn segmentLength() -> u32 { return COLS - 1u + KW; }

/** Column j of the block reads segment element j. */
fn at(j: u32) -> f32 { return seg[j]; }

/** acc[ic][j] += w * seg[j] for the block's columns; ic is a constant at every call site. */
fn fmaColumns(ic: u32, w: f32) {
  let a = ic * MAX_COLS;
  acc[a] = fma(w, at(0u), acc[a]);
  if (COLS > 1u) { acc[a + 1u] = fma(w, at(1u), acc[a + 1u]); }
  if (COLS > 2u) { acc[a + 2u] = fma(w, at(2u), acc[a + 2u]); }
  if (COLS > 3u) { acc[a + 3u] = fma(w, at(3u), acc[a + 3u]); }
  if (COLS > 4u) { acc[a + 4u] = fma(w, at(4u), acc[a + 4u]); }
  if (COLS > 5u) { acc[a + 5u] = fma(w, at(5u), acc[a + 5u]); }
  if (COLS > 6u) { acc[a + 6u] = fma(w, at(6u), acc[a + 6u]); }
  if (COLS > 7u) { acc[a + 7u] = fma(w, at(7u), acc[a + 7u]); }
  if (COLS > 8u) { acc[a + 8u] = fma(w, at(8u), acc[a + 8u]); }
  if (COLS > 9u) { acc[a + 9u] = fma(w, at(9u), acc[a + 9u]); }
  if (COLS > 10u) { acc[a + 10u] = fma(w, at(10u), acc[a + 10u]); }
  if (COLS > 11u) { acc[a + 11u] = fma(w, at(11u), acc[a + 11u]); }
  if (COLS > 12u) { acc[a + 12u] = fma(w, at(12u), acc[a + 12u]); }
  if (COLS > 13u) { acc[a + 13u] = fma(w, at(13u), acc[a + 13u]); }
  if (COLS > 14u) { acc[a + 14u] = fma(w, at(14u), acc[a + 14u]); }
  if (COLS > 15u) { acc[a + 15u] = fma(w, at(15u), acc[a + 15u]); }
}

/** weight[o, c0 + ic, ky, kx]; channels past C (last block) read a clamped weight, never stored. */
fn weightAt(o: u32, c0: u32, ic: u32, ky: u32, kx: u32) -> f32 {
  return weight[((o * C + min(c0 + ic, C - 1u)) * KH + ky) * KW + kx];
}

/** Where dilated coordinate t = out * S lands on an axis of `size` outputs: (out, 1), or (any, 0). */
fn undilate(t: i32, size: u32) -> vec2u {
  let out = u32(max(t, 0)) / S;
  let exists = t >= 0 && u32(t) % S == 0u && out < size;
  return vec2u(min(out, size - 1u), u32(exists));
}

/** Dilated gradOutput at column t0 + i of the row at rowStart; 0 where rowExists is 0 or no output lands. */
fn segmentValue(rowStart: u32, rowExists: u32, t0: i32, i: u32) -> f32 {
  let xAt = undilate(t0 + i32(i), OW);
  return select(0.0, gradOutput[rowStart + xAt.x], (rowExists & xAt.y) != 0u);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  // nwg.z is 1: trip counts times it keep loops rolled (see conv2d_forward.wgsl).
  let rolled = nwg.z;
  let group = wid.x + wid.y * nwg.x;
  let c0 = (group / GROUPS_PER_BLOCK) * IC_BLOCK;
  let colBlocks = (W + COLS - 1u) / COLS;
  let index = (group % GROUPS_PER_BLOCK) * WG + lid;
  // Out-of-range invocations compute block 0 and store nothing (no early return, as in the forward).
  let inRange = c0 < C && index < N * H * colBlocks;
  let block = select(0u, index, inRange);
  let ix0 = (block % colBlocks) * COLS;
  let iy = (block / colBlocks) % H;
  let n = block / (colBlocks * H);

  // Dilated column of segment element 0: ix0 + P - (KW - 1). Tap kx = KW - 1 - k pairs column j with
  // segment element j + k, so walking k upwards slides the segment.
  let t0 = i32(ix0 + P) - i32(KW - 1u);
  for (var o = 0u; o < O * rolled; o++) {
    for (var ky = 0u; ky < KH * rolled; ky++) {
      // seg[i] = dilated gradOutput[n, o, row iy + P - ky, column t0 + i].
      let yAt = undilate(i32(iy + P) - i32(ky), OH);
      let rowStart = ((n * O + o) * OH + yAt.x) * OW;
      loadSegment(rowStart, yAt.y, t0);
      for (var k = 0u; k < KW * rolled; k++) {
        let kx = KW - 1u - k;
        fmaColumns(0u, weightAt(o, c0, 0u, ky, kx));
        if (IC_BLOCK > 1u) { fmaColumns(1u, weightAt(o, c0, 1u, ky, kx)); }
        if (IC_BLOCK > 2u) { fmaColumns(2u, weightAt(o, c0, 2u, ky, kx)); }
        if (IC_BLOCK > 3u) { fmaColumns(3u, weightAt(o, c0, 3u, ky, kx)); }
        if (IC_BLOCK > 4u) { fmaColumns(4u, weightAt(o, c0, 4u, ky, kx)); }
        if (IC_BLOCK > 5u) { fmaColumns(5u, weightAt(o, c0, 5u, ky, kx)); }
        if (IC_BLOCK > 6u) { fmaColumns(6u, weightAt(o, c0, 6u, ky, kx)); }
        if (IC_BLOCK > 7u) { fmaColumns(7u, weightAt(o, c0, 7u, ky, kx)); }
        slide();
      }
    }
  }

  if (!inRange) { return; }
  // One store site in a rolled loop; `staged` is indexed dynamically, `acc` stays in registers.
  var staged = acc;
  for (var a = 0u; a < IC_BLOCK * COLS * rolled; a++) {
    let c = c0 + a / COLS;
    let ix = ix0 + a % COLS;
    if (c < C && ix < W) {
      gradInput[((n * C + c) * H + iy) * W + ix] = staged[(a / COLS) * MAX_COLS + a % COLS];
    }
  }
}
