// conv2d_texture_gemm_pack: the operands of shaders/conv2d_texture_gemm.wgsl, from NCHW buffers.
// MODE 0, planes: item r of src [R, C, H, W], zero-padded by PAD on every side, channels-last into a
//   tile of the texture: texel (tx + x * C4 + g, ty + y) holds channels 4g .. 4g+3 of padded position
//   (y, x), where the tile of item r starts at tx = (r % PER_ROW) * (W + 2 PAD) * C4,
//   ty = (r / PER_ROW) * (H + 2 PAD). Tiles let a batch of any size fit the texture's size limits.
// MODE 1, a convolution's weights [R = O, C, H = KH, W = KW] for its input gradient: row c of the
//   texture holds the kernel flipped and transposed, texel (ky * KW + kx) * C4 + g holding
//   weight[4g .. 4g+3, c, KH-1-ky, KW-1-kx] (here C4 = ceil(O / 4)), so that the input gradient is the
//   forward of the padded output gradient with these weights.
// Zeros past the channel count fill a texel's last lanes.
// bindings: 0 src: array<f32> (read), 1 dst: texture_storage_2d<rgba32float, write>
// dispatch: ceil(TEXELS / WG) workgroups, split over x and y (see workgroupGrid), where TEXELS is
//   R * C4 * (H + 2 PAD) * (W + 2 PAD) (MODE 0) or C * KH * KW * ceil(O / 4) (MODE 1).

override MODE: u32 = 0u;
override R: u32;
override C: u32;
override H: u32;
override W: u32;
override PAD: u32 = 0u;
override C4: u32;     // texels per position: ceil(C / 4) (MODE 0), ceil(R / 4) (MODE 1)
override PER_ROW: u32 = 1u;
override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var dst: texture_storage_2d<rgba32float, write>;

/** Plane value src[r, c, y - PAD, x - PAD], 0 in the border and past C. */
fn planeAt(r: u32, c: u32, y: u32, x: u32) -> f32 {
  let inside = c < C && y >= PAD && y < H + PAD && x >= PAD && x < W + PAD;
  let index = ((r * C + min(c, C - 1u)) * H + clamp(y, PAD, H + PAD - 1u) - PAD) * W + clamp(x, PAD, W + PAD - 1u) - PAD;
  return select(0.0, src[index], inside);
}

/** Flipped weight src[o, c, H-1-ky, W-1-kx], 0 past R. */
fn flippedAt(o: u32, c: u32, ky: u32, kx: u32) -> f32 {
  return select(0.0, src[((min(o, R - 1u) * C + c) * H + H - 1u - ky) * W + W - 1u - kx], o < R);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * WG + lid;
  if (MODE == 0u) {
    let hp = H + 2u * PAD;
    let wp = W + 2u * PAD;
    if (t >= R * C4 * hp * wp) { return; }
    let g = t % C4;
    let x = (t / C4) % wp;
    let y = (t / (C4 * wp)) % hp;
    let r = t / (C4 * wp * hp);
    let c = 4u * g;
    let texel = vec4f(planeAt(r, c, y, x), planeAt(r, c + 1u, y, x), planeAt(r, c + 2u, y, x), planeAt(r, c + 3u, y, x));
    textureStore(dst, vec2u((r % PER_ROW) * wp * C4 + x * C4 + g, (r / PER_ROW) * hp + y), texel);
  } else {
    if (t >= C * H * W * C4) { return; }
    let g = t % C4;
    let kx = (t / C4) % W;
    let ky = (t / (C4 * W)) % H;
    let c = t / (C4 * W * H);
    let o = 4u * g;
    let texel = vec4f(flippedAt(o, c, ky, kx), flippedAt(o + 1u, c, ky, kx), flippedAt(o + 2u, c, ky, kx), flippedAt(o + 3u, c, ky, kx));
    textureStore(dst, vec2u((ky * W + kx) * C4 + g, c), texel);
  }
}
