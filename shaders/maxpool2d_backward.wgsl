// maxpool2d_backward: gradInput[i] = sum of gradOutput[o] over the windows o that chose input i
// (argmax[o] == i), 0 where none did. Gathered per input element, adding windows in ascending order, so
// overlapping windows (S < K) need no atomics and the result is the same on every run.
// bindings: 0 gradOutput: array<f32> (read, PLANES*OH*OW), 1 argmax: array<u32> (read, PLANES*OH*OW),
//           2 gradInput: array<f32> (read_write, PLANES*H*W)
// PLANES = batch * channels. dispatch: ceil(PLANES*H*W / WG) workgroups, split over x and y.

override PLANES: u32;
override H: u32;
override W: u32;
override K: u32;
override S: u32;
override OH: u32;
override OW: u32;
override WG: u32 = 64;

@group(0) @binding(0) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(1) var<storage, read> argmax: array<u32>;
@group(0) @binding(2) var<storage, read_write> gradInput: array<f32>;

// Windows covering position p along one axis: those o with o*S <= p < o*S + K, clipped to [0, n).
fn first_window(p: u32) -> u32 {
  return select(0u, (p - K) / S + 1u, p >= K);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= PLANES * H * W) { return; }
  let x = i % W;
  let rest = i / W;
  let y = rest % H;
  let plane = rest / H;
  let oy_end = min(y / S + 1u, OH);
  let ox_end = min(x / S + 1u, OW);
  var sum = 0.0;
  for (var oy = first_window(y); oy < oy_end; oy++) {
    for (var ox = first_window(x); ox < ox_end; ox++) {
      let o = (plane * OH + oy) * OW + ox;
      if (argmax[o] == i) { sum += gradOutput[o]; }
    }
  }
  gradInput[i] = sum;
}
