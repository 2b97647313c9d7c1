// maxpool2d_backward: gradInput[i] = sum of gradOutput[o] over the windows o that chose input i
// (argmax[o] == i), 0 where none did. Every gradInput element is written by exactly one invocation, so
// there are no atomics and the result is the same on every run. Two specializations:
//   S >= K (windows do not overlap): each window o owns the S x S input tile at its corner (the last
//     row/column of windows also own the rows/columns no window reaches), written whole: gradOutput[o]
//     at argmax[o], 0 elsewhere. One invocation does OW_BLOCK adjacent windows of a row. Several times
//     faster on lavapipe than gathering.
//   S < K (overlapping windows): one invocation per input element gathers over the windows covering it,
//     adding them in ascending order (row-major over the windows).
// RELU_MASK (when the pooled input is a ReLU's output): the ReLU's backward is applied too, zeroing
//   gradInput wherever input <= 0 (PyTorch's threshold_backward, so a NaN input passes its gradient), which
//   saves a separate pass over gradInput. Only the chosen elements can be non-zero, so in the tile
//   specialization one input read per window does it.
// bindings: 0 gradOutput: array<f32> (read, PLANES*OH*OW), 1 argmax: array<u32> (read, PLANES*OH*OW),
//           2 gradInput: array<f32> (read_write, PLANES*H*W), 3 input: array<f32> (read, PLANES*H*W; read
//           only when RELU_MASK)
// PLANES = batch * channels. dispatch: ceil(PLANES*OH*ceil(OW/OW_BLOCK) / WG) workgroups when S >= K,
// ceil(PLANES*H*W / WG) otherwise; split over x and y (see workgroupGrid).

override PLANES: u32;
override H: u32;
override W: u32;
override K: u32;
override S: u32;
override OH: u32;
override OW: u32;
override OW_BLOCK: u32 = 4;
override WG: u32 = 64;
override RELU_MASK: bool = false;

@group(0) @binding(0) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(1) var<storage, read> argmax: array<u32>;
@group(0) @binding(2) var<storage, read_write> gradInput: array<f32>;
@group(0) @binding(3) var<storage, read> input: array<f32>;

/** g, or 0 where the ReLU that produced input[i] was off. */
fn masked(g: f32, i: u32) -> f32 {
  if (RELU_MASK) { return select(g, 0.0, input[i] <= 0.0); }
  return g;
}

fn write_tiles(id: u32) {
  let blocks = (OW + OW_BLOCK - 1u) / OW_BLOCK;
  let row = id / blocks; // plane * OH + oy
  let oy = row % OH;
  let plane = row / OH;
  let y_end = select(oy * S + S, H, oy == OH - 1u);
  for (var j = 0u; j < OW_BLOCK; j++) {
    let ox = id % blocks * OW_BLOCK + j;
    if (ox >= OW) { break; }
    let at = argmax[row * OW + ox];
    let g = masked(gradOutput[row * OW + ox], at);
    let x_end = select(ox * S + S, W, ox == OW - 1u);
    for (var y = oy * S; y < y_end; y++) {
      for (var x = ox * S; x < x_end; x++) {
        let i = (plane * H + y) * W + x;
        gradInput[i] = select(0.0, g, i == at);
      }
    }
  }
}

// At most this many windows cover one position along an axis.
override SPAN: u32 = (K + S - 1u) / S;

// The windows covering position p along one axis are o with o*S <= p < o*S + K, o < n: of the SPAN
// candidates ending at p / S, candidate c is o = p / S + 1 + c - SPAN. A fixed trip count keeps the
// invocations of a workgroup in step, which lavapipe runs as SIMD lanes.
fn window_start(p: u32, c: u32) -> i32 {
  return i32(p / S + 1u + c) - i32(SPAN);
}

fn covers(o: i32, p: u32, n: u32) -> bool {
  return o >= 0 && u32(o) < n && p < u32(o) * S + K;
}

fn gather(i: u32) {
  let x = i % W;
  let rest = i / W;
  let y = rest % H;
  let plane = rest / H;
  var sum = 0.0;
  for (var cy = 0u; cy < SPAN; cy++) {
    let oy = window_start(y, cy);
    for (var cx = 0u; cx < SPAN; cx++) {
      let ox = window_start(x, cx);
      if (covers(oy, y, OH) && covers(ox, x, OW)) {
        let o = (plane * OH + u32(oy)) * OW + u32(ox);
        sum += select(0.0, gradOutput[o], argmax[o] == i);
      }
    }
  }
  gradInput[i] = masked(sum, i);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let id = (wid.x + wid.y * nwg.x) * WG + lid;
  if (S >= K) {
    if (id < PLANES * OH * ((OW + OW_BLOCK - 1u) / OW_BLOCK)) { write_tiles(id); }
  } else {
    if (id < PLANES * H * W) { gather(id); }
  }
}
