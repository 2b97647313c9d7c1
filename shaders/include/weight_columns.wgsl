// weight_columns: shared by shaders/conv2d_forward_implicit_gemm.wgsl and conv2d_texture_gemm.wgsl, pasted
// in after register_block.wgsl by src/gpu/kernel.ts. The kernel declares `weight: texture_2d<f32>` (one row
// of texels per output channel) and the override O (output channels).

/** Texel t of the rows of output channels o0 .. o0 + COLS - 1 (channels past O read the last one's, never stored). */
fn loadWeightColumns(t: u32, o0: u32) -> array<vec4f, MAX_COLS> {
  var bs: array<vec4f, MAX_COLS>;
  // Written out, as the fma block is (see register_block.wgsl), so wgpu's SPIR-V unrolls too.
  bs[0] = textureLoad(weight, vec2u(t, min(o0, O - 1u)), 0);
  if (COLS > 1u) { bs[1] = textureLoad(weight, vec2u(t, min(o0 + 1u, O - 1u)), 0); }
  if (COLS > 2u) { bs[2] = textureLoad(weight, vec2u(t, min(o0 + 2u, O - 1u)), 0); }
  if (COLS > 3u) { bs[3] = textureLoad(weight, vec2u(t, min(o0 + 3u, O - 1u)), 0); }
  if (COLS > 4u) { bs[4] = textureLoad(weight, vec2u(t, min(o0 + 4u, O - 1u)), 0); }
  if (COLS > 5u) { bs[5] = textureLoad(weight, vec2u(t, min(o0 + 5u, O - 1u)), 0); }
  if (COLS > 6u) { bs[6] = textureLoad(weight, vec2u(t, min(o0 + 6u, O - 1u)), 0); }
  if (COLS > 7u) { bs[7] = textureLoad(weight, vec2u(t, min(o0 + 7u, O - 1u)), 0); }
  if (COLS > 8u) { bs[8] = textureLoad(weight, vec2u(t, min(o0 + 8u, O - 1u)), 0); }
  if (COLS > 9u) { bs[9] = textureLoad(weight, vec2u(t, min(o0 + 9u, O - 1u)), 0); }
  if (COLS > 10u) { bs[10] = textureLoad(weight, vec2u(t, min(o0 + 10u, O - 1u)), 0); }
  if (COLS > 11u) { bs[11] = textureLoad(weight, vec2u(t, min(o0 + 11u, O - 1u)), 0); }
  if (COLS > 12u) { bs[12] = textureLoad(weight, vec2u(t, min(o0 + 12u, O - 1u)), 0); }
  if (COLS > 13u) { bs[13] = textureLoad(weight, vec2u(t, min(o0 + 13u, O - 1u)), 0); }
  if (COLS > 14u) { bs[14] = textureLoad(weight, vec2u(t, min(o0 + 14u, O - 1u)), 0); }
  if (COLS > 15u) { bs[15] = textureLoad(weight, vec2u(t, min(o0 + 15u, O - 1u)), 0); }
  if (COLS > 16u) { bs[16] = textureLoad(weight, vec2u(t, min(o0 + 16u, O - 1u)), 0); }
  if (COLS > 17u) { bs[17] = textureLoad(weight, vec2u(t, min(o0 + 17u, O - 1u)), 0); }
  if (COLS > 18u) { bs[18] = textureLoad(weight, vec2u(t, min(o0 + 18u, O - 1u)), 0); }
  if (COLS > 19u) { bs[19] = textureLoad(weight, vec2u(t, min(o0 + 19u, O - 1u)), 0); }
  if (COLS > 20u) { bs[20] = textureLoad(weight, vec2u(t, min(o0 + 20u, O - 1u)), 0); }
  if (COLS > 21u) { bs[21] = textureLoad(weight, vec2u(t, min(o0 + 21u, O - 1u)), 0); }
  if (COLS > 22u) { bs[22] = textureLoad(weight, vec2u(t, min(o0 + 22u, O - 1u)), 0); }
  if (COLS > 23u) { bs[23] = textureLoad(weight, vec2u(t, min(o0 + 23u, O - 1u)), 0); }
  return bs;
}
