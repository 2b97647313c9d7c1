// tree_sum(lid, value): the sum of `value` over a workgroup of WG invocations (a power of two, which
// the including kernel declares), halving pairwise in workgroup memory: a fixed order, so the same
// bits every run. Every invocation of the workgroup must call it; all get the total.
var<workgroup> partial: array<f32, WG>;

fn tree_sum(lid: u32, value: f32) -> f32 {
  partial[lid] = value;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half = half / 2u) {
    if (lid < half) { partial[lid] = partial[lid] + partial[lid + half]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}
