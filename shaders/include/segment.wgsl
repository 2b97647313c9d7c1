// segment: the input row segment that shaders/conv2d_forward.wgsl and conv2d_backward_input.wgsl slide
// along a kernel row (see conv2d_forward.wgsl). Pasted in where a kernel has the line
// `// #include "segment.wgsl"`; the kernel defines segmentLength() (elements in use, at most
// MAX_SEGMENT) and segmentValue(rowStart, rowFlag, start, i), the value of element i.
// Written out, one guarded statement per element that the override constants fold away: Mesa unrolls
// constant-trip loops, but not those in wgpu's (Deno's) SPIR-V, which bounds every loop with a counter,
// and a rolled loop would leave `seg` in memory instead of registers.

const MAX_SEGMENT = 32u;

var<private> seg: array<f32, MAX_SEGMENT>;

/** seg[i] = seg[i + 1]: the segment of the next tap. */
fn slide() {
  let n = segmentLength();
  seg[0] = seg[1]; seg[1] = seg[2]; seg[2] = seg[3];
  if (n > 4u) { seg[3] = seg[4]; seg[4] = seg[5]; seg[5] = seg[6]; seg[6] = seg[7]; }
  if (n > 8u) { seg[7] = seg[8]; seg[8] = seg[9]; seg[9] = seg[10]; seg[10] = seg[11]; }
  if (n > 12u) { seg[11] = seg[12]; seg[12] = seg[13]; seg[13] = seg[14]; seg[14] = seg[15]; }
  if (n > 16u) { seg[15] = seg[16]; seg[16] = seg[17]; seg[17] = seg[18]; seg[18] = seg[19]; }
  if (n > 20u) { seg[19] = seg[20]; seg[20] = seg[21]; seg[21] = seg[22]; seg[22] = seg[23]; }
  if (n > 24u) { seg[23] = seg[24]; seg[24] = seg[25]; seg[25] = seg[26]; seg[26] = seg[27]; }
  if (n > 28u) { seg[27] = seg[28]; seg[28] = seg[29]; seg[29] = seg[30]; seg[30] = seg[31]; }
}

/** seg[i] = segmentValue(rowStart, rowFlag, start, i) for every element in use. */
fn loadSegment(rowStart: u32, rowFlag: u32, start: i32) {
  let n = segmentLength();
  seg[0] = segmentValue(rowStart, rowFlag, start, 0u);
  if (n > 1u) { seg[1] = segmentValue(rowStart, rowFlag, start, 1u); }
  if (n > 2u) { seg[2] = segmentValue(rowStart, rowFlag, start, 2u); }
  if (n > 3u) { seg[3] = segmentValue(rowStart, rowFlag, start, 3u); }
  if (n > 4u) { seg[4] = segmentValue(rowStart, rowFlag, start, 4u); }
  if (n > 5u) { seg[5] = segmentValue(rowStart, rowFlag, start, 5u); }
  if (n > 6u) { seg[6] = segmentValue(rowStart, rowFlag, start, 6u); }
  if (n > 7u) { seg[7] = segmentValue(rowStart, rowFlag, start, 7u); }
  if (n > 8u) { seg[8] = segmentValue(rowStart, rowFlag, start, 8u); }
  if (n > 9u) { seg[9] = segmentValue(rowStart, rowFlag, start, 9u); }
  if (n > 10u) { seg[10] = segmentValue(rowStart, rowFlag, start, 10u); }
  if (n > 11u) { seg[11] = segmentValue(rowStart, rowFlag, start, 11u); }
  if (n > 12u) { seg[12] = segmentValue(rowStart, rowFlag, start, 12u); }
  if (n > 13u) { seg[13] = segmentValue(rowStart, rowFlag, start, 13u); }
  if (n > 14u) { seg[14] = segmentValue(rowStart, rowFlag, start, 14u); }
  if (n > 15u) { seg[15] = segmentValue(rowStart, rowFlag, start, 15u); }
  if (n > 16u) { seg[16] = segmentValue(rowStart, rowFlag, start, 16u); }
  if (n > 17u) { seg[17] = segmentValue(rowStart, rowFlag, start, 17u); }
  if (n > 18u) { seg[18] = segmentValue(rowStart, rowFlag, start, 18u); }
  if (n > 19u) { seg[19] = segmentValue(rowStart, rowFlag, start, 19u); }
  if (n > 20u) { seg[20] = segmentValue(rowStart, rowFlag, start, 20u); }
  if (n > 21u) { seg[21] = segmentValue(rowStart, rowFlag, start, 21u); }
  if (n > 22u) { seg[22] = segmentValue(rowStart, rowFlag, start, 22u); }
  if (n > 23u) { seg[23] = segmentValue(rowStart, rowFlag, start, 23u); }
  if (n > 24u) { seg[24] = segmentValue(rowStart, rowFlag, start, 24u); }
  if (n > 25u) { seg[25] = segmentValue(rowStart, rowFlag, start, 25u); }
  if (n > 26u) { seg[26] = segmentValue(rowStart, rowFlag, start, 26u); }
  if (n > 27u) { seg[27] = segmentValue(rowStart, rowFlag, start, 27u); }
  if (n > 28u) { seg[28] = segmentValue(rowStart, rowFlag, start, 28u); }
  if (n > 29u) { seg[29] = segmentValue(rowStart, rowFlag, start, 29u); }
  if (n > 30u) { seg[30] = segmentValue(rowStart, rowFlag, start, 30u); }
  if (n > 31u) { seg[31] = segmentValue(rowStart, rowFlag, start, 31u); }
}
