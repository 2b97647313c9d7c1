// conv2d_forward: output[n,o,y,x] = bias[o] + sum over c, ky, kx of
//   weight[o,c,ky,kx] * input[n, c, y*S - P + ky, x*S - P + kx]   (zero outside the input),
// then max(0, .) when RELU. Cross-correlation, as PyTorch's Conv2d.
// bindings: 0 input:  array<f32> [N, C, H, W]    (read)
//           1 weight: array<f32> [O, C, KH, KW]  (read)
//           2 bias:   array<f32> [O]             (read)
//           3 output: array<f32> [N, O, OH, OW]  (read_write)
// Each invocation keeps a register block of OC_BLOCK output channels x COLS adjacent columns of one
// output row. Per (c, ky) it loads one input row segment and slides it along kx in registers, so
// that each load feeds many fmas: on lavapipe a load costs as much as dozens of fmas.
// dispatch: ceil(O / OC_BLOCK) * GROUPS_PER_BLOCK workgroups, split over x and y (workgroupGrid), where
//   GROUPS_PER_BLOCK = ceil(N * OH * ceil(OW / COLS) / WG). The grid's z count must be 1.

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
override OC_BLOCK: u32 = 4u; // at most MAX_OC
override COLS: u32 = 8u;     // at most MAX_COLS, and (COLS - 1) * S + KW at most MAX_SEGMENT
override WG: u32 = 64u;
override GROUPS_PER_BLOCK: u32;

const MAX_OC = 8u;
const MAX_COLS = 16u;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> output: array<f32>;

// Register block and input segment (shaders/include/segment.wgsl: seg, slide, loadSegment). They must
// only ever be indexed by constants, or they leave registers for memory. Mesa unrolls constant-trip
// loops, but not those in the SPIR-V of wgpu (Deno), which adds loop-bound counters; so the code
// touching them is written out, one statement per element, guarded by conditions that the override
// constants fold away.
// #include "segment.wgsl"
var<private> acc: array<f32, MAX_OC * MAX_COLS>;

fn segmentLength() -> u32 { return (COLS - 1u) * S + KW; }

/** input[rowStart + ix0 + i], zero outside the input (rowInside 0, or the column outside). */
fn segmentValue(rowStart: u32, rowInside: u32, ix0: i32, i: u32) -> f32 {
  let ix = ix0 + i32(i);
  let value = input[rowStart + u32(clamp(ix, 0, i32(W) - 1))];
  return select(0.0, value, rowInside != 0u && ix >= 0 && ix < i32(W));
}

/** Column j of the block reads segment element j*S (kept in bounds where COLS excludes j). */
fn at(j: u32) -> f32 { return seg[min(j * S, MAX_SEGMENT - 1u)]; }

/** acc[oc][j] += w * seg[j*S] for the block's columns; oc is a constant at every call site. */
fn fmaColumns(oc: u32, w: f32) {
  let a = oc * MAX_COLS;
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

/** weight[o0 + oc, c, ky, kx]; channels past O (last block) read a clamped weight, never stored. */
fn weightAt(o0: u32, oc: u32, tap: u32) -> f32 {
  return weight[min(o0 + oc, O - 1u) * C * KH * KW + tap];
}

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
  let index = (group % GROUPS_PER_BLOCK) * WG + lid;
  // Invocations past the end compute block 0 and store nothing: returning here would put every load
  // below under a divergent mask, which lavapipe turns into slower code.
  let inRange = o0 < O && index < N * OH * colBlocks;
  let block = select(0u, index, inRange);
  let x0 = (block % colBlocks) * COLS;
  let y = (block / colBlocks) % OH;
  let n = block / (colBlocks * OH);

  var init: array<f32, MAX_OC * MAX_COLS>;
  for (var a = 0u; a < OC_BLOCK * COLS * rolled; a++) {
    init[(a / COLS) * MAX_COLS + a % COLS] = bias[min(o0 + a / COLS, O - 1u)];
  }
  acc = init;

  let ix0 = i32(x0 * S) - i32(P);
  for (var c = 0u; c < C * rolled; c++) {
    for (var ky = 0u; ky < KH * rolled; ky++) {
      // seg[i] = input[n, c, y*S - P + ky, x0*S - P + i], zero outside the input.
      let iy = i32(y * S + ky) - i32(P);
      let rowInside = iy >= 0 && iy < i32(H);
      let rowStart = ((n * C + c) * H + u32(clamp(iy, 0, i32(H) - 1))) * W;
      loadSegment(rowStart, u32(rowInside), ix0);
      for (var kx = 0u; kx < KW * rolled; kx++) {
        let tap = (c * KH + ky) * KW + kx;
        fmaColumns(0u, weightAt(o0, 0u, tap));
        if (OC_BLOCK > 1u) { fmaColumns(1u, weightAt(o0, 1u, tap)); }
        if (OC_BLOCK > 2u) { fmaColumns(2u, weightAt(o0, 2u, tap)); }
        if (OC_BLOCK > 3u) { fmaColumns(3u, weightAt(o0, 3u, tap)); }
        if (OC_BLOCK > 4u) { fmaColumns(4u, weightAt(o0, 4u, tap)); }
        if (OC_BLOCK > 5u) { fmaColumns(5u, weightAt(o0, 5u, tap)); }
        if (OC_BLOCK > 6u) { fmaColumns(6u, weightAt(o0, 6u, tap)); }
        if (OC_BLOCK > 7u) { fmaColumns(7u, weightAt(o0, 7u, tap)); }
        slide();
      }
    }
  }

  if (!inRange) { return; }
  // One store site in a rolled loop; `staged` is indexed dynamically, `acc` stays in registers.
  var staged = acc;
  for (var a = 0u; a < OC_BLOCK * COLS * rolled; a++) {
    let o = o0 + a / COLS;
    let x = x0 + a % COLS;
    if (o < O && x < OW) {
      var v = staged[(a / COLS) * MAX_COLS + a % COLS];
      if (RELU) { v = max(v, 0.0); }
      output[((n * O + o) * OH + y) * OW + x] = v;
    }
  }
}
