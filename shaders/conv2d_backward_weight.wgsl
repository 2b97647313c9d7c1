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
// Each invocation keeps a register block of OC_BLOCK output channels x KY_BLOCK kernel rows x KX_BLOCK
// kernel columns for one input channel c. Walking x along an output row it loads OC_BLOCK gradients
// and slides a window of KX_BLOCK input values per kernel row by S, so each step needs only
// OC_BLOCK + KY_BLOCK * min(S, KX_BLOCK) loads.
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
override OC_BLOCK: u32 = 2u; // OC_BLOCK * KY_BLOCK * KX_BLOCK at most MAX_ACC, OC_BLOCK at most MAX_OC
override KY_BLOCK: u32 = 3u; // at most MAX_KY
override KX_BLOCK: u32 = 3u; // at most MAX_KX
override WG: u32 = 64u;

const MAX_ACC = 64u;
const MAX_OC = 16u;
const MAX_KY = 8u;
const MAX_KX = 16u;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;

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

  var acc: array<f32, MAX_ACC>;
  var biasAcc: array<f32, MAX_OC>;
  let rowEnd = min((chunk + 1u) * ROWS_PER_CHUNK, N * OH);
  // Warm-up steps before x = 0 only fill the window: warmup * S >= KX_BLOCK columns slide in, so
  // every load site is the one in the slide (fewer sites, less lavapipe code to compile).
  let warmup = (KX_BLOCK + S - 1u) / S;
  for (var row = chunk * ROWS_PER_CHUNK; row < rowEnd; row++) {
    let n = row / OH;
    let y = row % OH;
    // win[r][i] = input[n, c, y*S - P + ky0 + r, x*S - P + kx0 + i] at the current x.
    var win: array<f32, MAX_KY * MAX_KX>;
    let gradStart = (n * O * OH + y) * OW;
    for (var step = 0u; step < (warmup + OW) * rolled; step++) {
      // Slide to x = step - warmup: the window moves S input columns right.
      let ix0 = i32(step * S + kx0) - i32(warmup * S + P);
      for (var r = 0u; r < KY_BLOCK; r++) {
        let iy = i32(y * S + ky0 + r) - i32(P);
        for (var i = 0u; i < KX_BLOCK; i++) {
          if (i + S < KX_BLOCK) {
            win[r * MAX_KX + i] = win[r * MAX_KX + i + S];
          } else {
            win[r * MAX_KX + i] = inputAt(n, c, iy, ix0 + i32(i));
          }
        }
      }
      if (step >= warmup) {
        let x = step - warmup;
        var g: array<f32, MAX_OC>;
        for (var oc = 0u; oc < OC_BLOCK; oc++) {
          // Channels past O (last block) read a clamped address; their sums are never stored.
          g[oc] = gradOutput[gradStart + min(o0 + oc, O - 1u) * OH * OW + x];
          biasAcc[oc] += g[oc];
        }
        for (var oc = 0u; oc < OC_BLOCK; oc++) {
          for (var r = 0u; r < KY_BLOCK; r++) {
            for (var i = 0u; i < KX_BLOCK; i++) {
              let a = (oc * KY_BLOCK + r) * KX_BLOCK + i;
              acc[a] = fma(g[oc], win[r * MAX_KX + i], acc[a]);
            }
          }
        }
      }
    }
  }

  if (!inRange) { return; }
  let chunkStart = chunk * (O * C * KH * KW + O);
  var staged = acc;
  for (var a = 0u; a < OC_BLOCK * KY_BLOCK * KX_BLOCK * rolled; a++) {
    let o = o0 + a / (KY_BLOCK * KX_BLOCK);
    let ky = ky0 + (a / KX_BLOCK) % KY_BLOCK;
    let kx = kx0 + a % KX_BLOCK;
    if (o < O && ky < KH && kx < KW) {
      partial[chunkStart + ((o * C + c) * KH + ky) * KW + kx] = staged[a];
    }
  }
  // The block holding tap (0, 0, 0) of each channel block also owns its bias sums.
  if (c == 0u && ky0 == 0u && kx0 == 0u) {
    var stagedBias = biasAcc;
    for (var oc = 0u; oc < OC_BLOCK * rolled; oc++) {
      if (o0 + oc < O) { partial[chunkStart + O * C * KH * KW + o0 + oc] = stagedBias[oc]; }
    }
  }
}

/** input[n, c, iy, ix], or 0 in the zero padding. */
fn inputAt(n: u32, c: u32, iy: i32, ix: i32) -> f32 {
  let inside = iy >= 0 && iy < i32(H) && ix >= 0 && ix < i32(W);
  let value = input[((n * C + c) * H + u32(clamp(iy, 0, i32(H) - 1))) * W + u32(clamp(ix, 0, i32(W) - 1))];
  return select(0.0, value, inside);
}
