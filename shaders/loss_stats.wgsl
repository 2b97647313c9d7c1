// loss_stats: stats[0] = bitcast<u32>(sum of sampleLoss), stats[1] = count of predictions == labels, over
// BATCH samples. One workgroup: each invocation adds a strided slice in index order, then a tree halves
// the partials; the order is fixed, so the sum is bit-identical run after run (no float atomics).
// bindings: 0 sampleLoss: array<f32> (read, BATCH), 1 predictions: array<u32> (read, BATCH),
//           2 labels: array<u32> (read, BATCH), 3 stats: array<u32> (read_write, 2)
// dispatch: exactly 1 workgroup. WG must be a power of two, at most MAX_WG.

override BATCH: u32;
override WG: u32 = 64;
const MAX_WG = 256u;

@group(0) @binding(0) var<storage, read> sampleLoss: array<f32>;
@group(0) @binding(1) var<storage, read> predictions: array<u32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> stats: array<u32>;

var<workgroup> loss_partial: array<f32, MAX_WG>;
var<workgroup> correct_partial: array<u32, MAX_WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  var loss = 0.0;
  var correct = 0u;
  for (var i = lid; i < BATCH; i += WG) {
    loss += sampleLoss[i];
    correct += select(0u, 1u, predictions[i] == labels[i]);
  }
  loss_partial[lid] = loss;
  correct_partial[lid] = correct;
  for (var width = WG / 2u; width > 0u; width /= 2u) {
    workgroupBarrier();
    if (lid < width) {
      loss_partial[lid] += loss_partial[lid + width];
      correct_partial[lid] += correct_partial[lid + width];
    }
  }
  if (lid == 0u) {
    stats[0] = bitcast<u32>(loss_partial[0]);
    stats[1] = correct_partial[0];
  }
}
