// reduce_tree: out[j] = sum over o < OUTER, i < INNER of x[(o*J + j)*INNER + i], for j < J: a bias
// gradient (linear: OUTER = batch, J = features, INNER = 1; conv: OUTER = batch, J = channels, INNER =
// OH*OW) or the sum of split-K partials (OUTER = splits, J = outputs, INNER = 1). One workgroup per
// output: each invocation adds a strided slice in index order, then a tree in workgroup memory halves
// the partials. The order is fixed by WG alone, so the result is the same bit for bit every run.
// bindings: 0 x: array<f32> [OUTER, J, INNER] (read), 1 out: array<f32> [J] (read_write)
// dispatch: J workgroups, split over x and y (see workgroupGrid). WG: a power of two, at most MAX_WG.

override OUTER: u32;
override J: u32;
override INNER: u32 = 1u;
override WG: u32 = 256u;
const MAX_WG = 256u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, MAX_WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let j = wid.x + wid.y * nwg.x;
  if (j >= J) { return; }
  var sum = 0.0;
  for (var t = lid; t < OUTER * INNER; t += WG) { sum += x[((t / INNER) * J + j) * INNER + t % INNER]; }
  partial[lid] = sum;
  for (var width = WG / 2u; width > 0u; width /= 2u) {
    workgroupBarrier();
    if (lid < width) { partial[lid] += partial[lid + width]; }
  }
  if (lid == 0u) { out[j] = partial[0]; }
}
