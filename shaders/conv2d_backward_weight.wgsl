// conv2d_backward_weight: partial sums of the weight and bias gradients over chunks of output rows.
//   partial[k, o,c,ky,kx] = sum over rows (n, y) of chunk k and all x of
//                           gradOutput[n,o,y,x] * input[n, c, y*S - P + ky, x*S - P + kx]
//   partial[k, O*C*KH*KW + o] = sum over the same rows and x of gradOutput[n,o,y,x]
// Chunk k holds rows k*ROWS_PER_CHUNK .. (k+1)*ROWS_PER_CHUNK - 1 of the N*OH rows (n, y). Splitting the
// long reduction gives enough invocations to fill the machine; conv2d_backward_weight_reduce then adds
// the CHUNKS partials in a fixed order, so results stay deterministic without atomics.
// bindings: 0 input:      array<f32> [N, C, H, W]    (read)
//           1 gradOutput: array<f32> [N, O, OH, OW]  (read)
//           2 partial:    array<f32> [CHUNKS, O*C*KH*KW + O] (read_write)
// Each invocation keeps a register block of OC_BLOCK output channels x TAPS = KY_BLOCK * KX_BLOCK
// kernel taps of one input channel c. Walking x along an output row it loads OC_BLOCK gradients and
// slides a window of KX_BLOCK input values per kernel row by S, so each step needs only
// OC_BLOCK + KY_BLOCK * min(S, KX_BLOCK) loads for OC_BLOCK * TAPS fmas.
// dispatch: ceil(CHUNKS * ceil(O / OC_BLOCK) * C * ceil(KH / KY_BLOCK) * ceil(KW / KX_BLOCK) / WG)
//   workgroups, split over x and y (workgroupGrid). The grid's z count must be 1.

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
override ROWS_PER_CHUNK: u32;
override CHUNKS: u32; // ceil(N * OH / ROWS_PER_CHUNK)
override OC_BLOCK: u32 = 2u; // at most MAX_OC
override KY_BLOCK: u32 = 3u;
override KX_BLOCK: u32 = 3u; // KY_BLOCK * KX_BLOCK at most MAX_TAPS
override WG: u32 = 64u;

const MAX_OC = 8u;
const MAX_TAPS = 32u;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;

// Register block, bias sums and input window (win[r * KX_BLOCK + i] = kernel row r, column i). Only
// ever indexed by constants, so they stay in registers: the code touching them is written out, one
// guarded statement per element (see conv2d_forward.wgsl for why loops would not do).
var<private> acc: array<f32, MAX_OC * MAX_TAPS>;
var<private> biasAcc: array<f32, MAX_OC>;
var<private> win: array<f32, MAX_TAPS>;

/** acc[oc][t] += g * win[t] for every tap; oc is a constant at every call site. */
fn fmaTaps(oc: u32, g: f32) {
  let TAPS = KY_BLOCK * KX_BLOCK;
  let a = oc * MAX_TAPS;
  biasAcc[oc] += g;
  acc[a] = fma(g, win[0], acc[a]);
  if (TAPS > 1u) { acc[a + 1u] = fma(g, win[1], acc[a + 1u]); }
  if (TAPS > 2u) { acc[a + 2u] = fma(g, win[2], acc[a + 2u]); }
  if (TAPS > 3u) { acc[a + 3u] = fma(g, win[3], acc[a + 3u]); }
  if (TAPS > 4u) { acc[a + 4u] = fma(g, win[4], acc[a + 4u]); }
  if (TAPS > 5u) { acc[a + 5u] = fma(g, win[5], acc[a + 5u]); }
  if (TAPS > 6u) { acc[a + 6u] = fma(g, win[6], acc[a + 6u]); }
  if (TAPS > 7u) { acc[a + 7u] = fma(g, win[7], acc[a + 7u]); }
  if (TAPS > 8u) { acc[a + 8u] = fma(g, win[8], acc[a + 8u]); }
  if (TAPS > 9u) { acc[a + 9u] = fma(g, win[9], acc[a + 9u]); }
  if (TAPS > 10u) { acc[a + 10u] = fma(g, win[10], acc[a + 10u]); }
  if (TAPS > 11u) { acc[a + 11u] = fma(g, win[11], acc[a + 11u]); }
  if (TAPS > 12u) { acc[a + 12u] = fma(g, win[12], acc[a + 12u]); }
  if (TAPS > 13u) { acc[a + 13u] = fma(g, win[13], acc[a + 13u]); }
  if (TAPS > 14u) { acc[a + 14u] = fma(g, win[14], acc[a + 14u]); }
  if (TAPS > 15u) { acc[a + 15u] = fma(g, win[15], acc[a + 15u]); }
  if (TAPS > 16u) { acc[a + 16u] = fma(g, win[16], acc[a + 16u]); }
  if (TAPS > 17u) { acc[a + 17u] = fma(g, win[17], acc[a + 17u]); }
  if (TAPS > 18u) { acc[a + 18u] = fma(g, win[18], acc[a + 18u]); }
  if (TAPS > 19u) { acc[a + 19u] = fma(g, win[19], acc[a + 19u]); }
  if (TAPS > 20u) { acc[a + 20u] = fma(g, win[20], acc[a + 20u]); }
  if (TAPS > 21u) { acc[a + 21u] = fma(g, win[21], acc[a + 21u]); }
  if (TAPS > 22u) { acc[a + 22u] = fma(g, win[22], acc[a + 22u]); }
  if (TAPS > 23u) { acc[a + 23u] = fma(g, win[23], acc[a + 23u]); }
  if (TAPS > 24u) { acc[a + 24u] = fma(g, win[24], acc[a + 24u]); }
  if (TAPS > 25u) { acc[a + 25u] = fma(g, win[25], acc[a + 25u]); }
  if (TAPS > 26u) { acc[a + 26u] = fma(g, win[26], acc[a + 26u]); }
  if (TAPS > 27u) { acc[a + 27u] = fma(g, win[27], acc[a + 27u]); }
  if (TAPS > 28u) { acc[a + 28u] = fma(g, win[28], acc[a + 28u]); }
  if (TAPS > 29u) { acc[a + 29u] = fma(g, win[29], acc[a + 29u]); }
  if (TAPS > 30u) { acc[a + 30u] = fma(g, win[30], acc[a + 30u]); }
  if (TAPS > 31u) { acc[a + 31u] = fma(g, win[31], acc[a + 31u]); }
}

/** Whether window element t takes its value from element t + S (same kernel row) when sliding. */
fn slides(t: u32) -> bool { return t < KY_BLOCK * KX_BLOCK && t % KX_BLOCK + S < KX_BLOCK; }

/** The window moves S input columns right; the entries that came from outside it are loaded after. */
fn slide() {
  if (slides(0u)) { win[0] = win[min(0u + S, MAX_TAPS - 1u)]; }
  if (slides(1u)) { win[1] = win[min(1u + S, MAX_TAPS - 1u)]; }
  if (slides(2u)) { win[2] = win[min(2u + S, MAX_TAPS - 1u)]; }
  if (slides(3u)) { win[3] = win[min(3u + S, MAX_TAPS - 1u)]; }
  if (slides(4u)) { win[4] = win[min(4u + S, MAX_TAPS - 1u)]; }
  if (slides(5u)) { win[5] = win[min(5u + S, MAX_TAPS - 1u)]; }
  if (slides(6u)) { win[6] = win[min(6u + S, MAX_TAPS - 1u)]; }
  if (slides(7u)) { win[7] = win[min(7u + S, MAX_TAPS - 1u)]; }
  if (slides(8u)) { win[8] = win[min(8u + S, MAX_TAPS - 1u)]; }
  if (slides(9u)) { win[9] = win[min(9u + S, MAX_TAPS - 1u)]; }
  if (slides(10u)) { win[10] = win[min(10u + S, MAX_TAPS - 1u)]; }
  if (slides(11u)) { win[11] = win[min(11u + S, MAX_TAPS - 1u)]; }
  if (slides(12u)) { win[12] = win[min(12u + S, MAX_TAPS - 1u)]; }
  if (slides(13u)) { win[13] = win[min(13u + S, MAX_TAPS - 1u)]; }
  if (slides(14u)) { win[14] = win[min(14u + S, MAX_TAPS - 1u)]; }
  if (slides(15u)) { win[15] = win[min(15u + S, MAX_TAPS - 1u)]; }
  if (slides(16u)) { win[16] = win[min(16u + S, MAX_TAPS - 1u)]; }
  if (slides(17u)) { win[17] = win[min(17u + S, MAX_TAPS - 1u)]; }
  if (slides(18u)) { win[18] = win[min(18u + S, MAX_TAPS - 1u)]; }
  if (slides(19u)) { win[19] = win[min(19u + S, MAX_TAPS - 1u)]; }
  if (slides(20u)) { win[20] = win[min(20u + S, MAX_TAPS - 1u)]; }
  if (slides(21u)) { win[21] = win[min(21u + S, MAX_TAPS - 1u)]; }
  if (slides(22u)) { win[22] = win[min(22u + S, MAX_TAPS - 1u)]; }
  if (slides(23u)) { win[23] = win[min(23u + S, MAX_TAPS - 1u)]; }
  if (slides(24u)) { win[24] = win[min(24u + S, MAX_TAPS - 1u)]; }
  if (slides(25u)) { win[25] = win[min(25u + S, MAX_TAPS - 1u)]; }
  if (slides(26u)) { win[26] = win[min(26u + S, MAX_TAPS - 1u)]; }
  if (slides(27u)) { win[27] = win[min(27u + S, MAX_TAPS - 1u)]; }
  if (slides(28u)) { win[28] = win[min(28u + S, MAX_TAPS - 1u)]; }
  if (slides(29u)) { win[29] = win[min(29u + S, MAX_TAPS - 1u)]; }
  if (slides(30u)) { win[30] = win[min(30u + S, MAX_TAPS - 1u)]; }
}

/** input[n, c, iy, ix], or 0 in the zero padding. */
fn inputAt(n: u32, c: u32, iy: i32, ix: i32) -> f32 {
  let inside = iy >= 0 && iy < i32(H) && ix >= 0 && ix < i32(W);
  let value = input[((n * C + c) * H + u32(clamp(iy, 0, i32(H) - 1))) * W + u32(clamp(ix, 0, i32(W) - 1))];
  return select(0.0, value, inside);
}

/** gradOutput[n, o0 + oc, y, x]; channels past O (last block) read a clamped address, never stored. */
fn gradAt(gradStart: u32, o0: u32, oc: u32, x: u32) -> f32 {
  return gradOutput[gradStart + min(o0 + oc, O - 1u) * OH * OW + x];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  // nwg.z is 1: trip counts times it keep loops rolled (see conv2d_forward.wgsl).
  let rolled = nwg.z;
  let kxBlocks = (KW + KX_BLOCK - 1u) / KX_BLOCK;
  let kyBlocks = (KH + KY_BLOCK - 1u) / KY_BLOCK;
  let ocBlocks = (O + OC_BLOCK - 1u) / OC_BLOCK;
  let index = (wid.x + wid.y * nwg.x) * WG + lid;
  // Out-of-range invocations compute block 0 and store nothing (no early return, as in the forward).
  let inRange = index < CHUNKS * ocBlocks * C * kyBlocks * kxBlocks;
  let block = select(0u, index, inRange);
  let kx0 = (block % kxBlocks) * KX_BLOCK;
  let ky0 = ((block / kxBlocks) % kyBlocks) * KY_BLOCK;
  let c = (block / (kxBlocks * kyBlocks)) % C;
  let o0 = ((block / (kxBlocks * kyBlocks * C)) % ocBlocks) * OC_BLOCK;
  let chunk = block / (kxBlocks * kyBlocks * C * ocBlocks);

  // Warm-up steps before x = 0 only fill the window: warmup * S >= KX_BLOCK columns slide in, so the
  // only input loads are those of the slide.
  let warmup = (KX_BLOCK + S - 1u) / S;
  let fresh = min(S, KX_BLOCK); // entries per kernel row loaded at each step
  let rowEnd = min((chunk + 1u) * ROWS_PER_CHUNK, N * OH);
  for (var row = chunk * ROWS_PER_CHUNK; row < rowEnd; row++) {
    let n = row / OH;
    let y = row % OH;
    let gradStart = (n * O * OH + y) * OW;
    for (var step = 0u; step < (warmup + OW) * rolled; step++) {
      // Slide to x = step - warmup: win[r][i] = input[n, c, y*S - P + ky0 + r, x*S - P + kx0 + i].
      slide();
      let ix0 = i32(step * S + kx0) - i32(warmup * S + P);
      // Not rolled: Mesa unrolls this short loop under Dawn, so `win` keeps constant indices.
      for (var e = 0u; e < KY_BLOCK * fresh; e++) {
        let r = e / fresh;
        let i = KX_BLOCK - fresh + e % fresh;
        win[r * KX_BLOCK + i] = inputAt(n, c, i32(y * S + ky0 + r) - i32(P), ix0 + i32(i));
      }
      if (step >= warmup) {
        let x = step - warmup;
        fmaTaps(0u, gradAt(gradStart, o0, 0u, x));
        if (OC_BLOCK > 1u) { fmaTaps(1u, gradAt(gradStart, o0, 1u, x)); }
        if (OC_BLOCK > 2u) { fmaTaps(2u, gradAt(gradStart, o0, 2u, x)); }
        if (OC_BLOCK > 3u) { fmaTaps(3u, gradAt(gradStart, o0, 3u, x)); }
        if (OC_BLOCK > 4u) { fmaTaps(4u, gradAt(gradStart, o0, 4u, x)); }
        if (OC_BLOCK > 5u) { fmaTaps(5u, gradAt(gradStart, o0, 5u, x)); }
        if (OC_BLOCK > 6u) { fmaTaps(6u, gradAt(gradStart, o0, 6u, x)); }
        if (OC_BLOCK > 7u) { fmaTaps(7u, gradAt(gradStart, o0, 7u, x)); }
      }
    }
  }

  if (!inRange) { return; }
  let chunkStart = chunk * (O * C * KH * KW + O);
  // One store site in a rolled loop; `staged` is indexed dynamically, `acc` stays in registers.
  var staged = acc;
  let taps = KY_BLOCK * KX_BLOCK;
  for (var a = 0u; a < OC_BLOCK * taps * rolled; a++) {
    let o = o0 + a / taps;
    let ky = ky0 + (a % taps) / KX_BLOCK;
    let kx = kx0 + a % KX_BLOCK;
    if (o < O && ky < KH && kx < KW) {
      partial[chunkStart + ((o * C + c) * KH + ky) * KW + kx] = staged[(a / taps) * MAX_TAPS + a % taps];
    }
  }
  // The block holding tap (0, 0) of input channel 0 also owns its channels' bias sums.
  if (c == 0u && ky0 == 0u && kx0 == 0u) {
    var stagedBias = biasAcc;
    for (var oc = 0u; oc < OC_BLOCK * rolled; oc++) {
      if (o0 + oc < O) { partial[chunkStart + O * C * KH * KW + o0 + oc] = stagedBias[oc]; }
    }
  }
}
