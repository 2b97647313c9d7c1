// reduce_tree_subgroups: shaders/reduce_tree.wgsl (same bindings, constants and dispatch) where the
// device has the `subgroups` feature: each subgroup adds its invocations' slices with subgroupAdd, then
// invocation 0 adds the subgroups' sums in order. Deterministic on one device (fixed subgroup size), but
// another order than reduce_tree.wgsl's, so only src/kernels/reduce_tree.ts picks it, when asked to.

enable subgroups;

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
        @builtin(local_invocation_index) lid: u32, @builtin(subgroup_size) size: u32,
        @builtin(subgroup_invocation_id) lane: u32) {
  let j = wid.x + wid.y * nwg.x;
  if (j >= J) { return; }
  var sum = 0.0;
  for (var t = lid; t < OUTER * INNER; t += WG) { sum += x[((t / INNER) * J + j) * INNER + t % INNER]; }
  let total = subgroupAdd(sum);
  if (lane == 0u) { partial[lid / size] = total; }
  workgroupBarrier();
  if (lid == 0u) {
    var s = 0.0;
    for (var g = 0u; g < (WG + size - 1u) / size; g++) { s += partial[g]; }
    out[j] = s;
  }
}
