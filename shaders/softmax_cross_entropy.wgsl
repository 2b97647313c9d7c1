// softmax_cross_entropy: per row of logits [BATCH, CLASSES], a stable log-sum-exp (row max subtracted),
// then one of two specializations:
//   LOG_SOFTMAX_ONLY = 0 (training/evaluation): sampleLoss = -log_softmax[label], gradLogits = (softmax -
//     onehot(label)) / BATCH (the gradient of the batch-mean loss), predictions = argmax (ties and NaN: the
//     first, as torch.argmax). A label >= CLASSES gives a NaN loss and no one-hot term.
//   LOG_SOFTMAX_ONLY = 1 (prediction): gradLogits receives log_softmax; labels, sampleLoss and predictions
//     are bound but untouched.
// bindings: 0 logits: array<f32> (read, BATCH*CLASSES), 1 labels: array<u32> (read, BATCH),
//           2 gradLogits: array<f32> (read_write, BATCH*CLASSES), 3 sampleLoss: array<f32> (read_write, BATCH),
//           4 predictions: array<u32> (read_write, BATCH)
// dispatch: ceil(BATCH / WG) workgroups, split over x and y; one invocation per row (CLASSES is small).

override BATCH: u32;
override CLASSES: u32;
override LOG_SOFTMAX_ONLY: bool = false;
override WG: u32 = 64;
// Label smoothing (PyTorch's label_smoothing): the target is (1 - SMOOTHING) onehot + SMOOTHING / CLASSES.
// Zero folds the smoothing branches away, leaving the plain loss bit for bit.
override SMOOTHING: f32 = 0.0;

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> gradLogits: array<f32>;
@group(0) @binding(3) var<storage, read_write> sampleLoss: array<f32>;
@group(0) @binding(4) var<storage, read_write> predictions: array<u32>;

// #include "is_nan.wgsl"

// log(1 + x) for x >= 0, accurate for small x: 2 atanh(s) with s = x / (2 + x) <= 0.2 as a series
// (truncation below 1e-9 relative); above 0.5 the plain log has no cancellation to fear.
fn log1p(x: f32) -> f32 {
  if (x > 0.5) { return log(1.0 + x); }
  let s = x / (2.0 + x);
  let s2 = s * s;
  return 2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 / 11.0)))));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * WG + lid;
  if (row >= BATCH) { return; }
  let base = row * CLASSES;

  var best = logits[base];
  var best_at = 0u;
  for (var j = 1u; j < CLASSES; j++) {
    let v = logits[base + j];
    if (!is_nan(best) && (v > best || is_nan(v))) {
      best = v;
      best_at = j;
    }
  }
  // sum = 1 + rest, the 1 being the max's own term. A confident row has a tiny rest, and log(sum) would
  // lose it to rounding; log1p keeps the loss of such rows accurate. With a NaN in the row every output
  // becomes NaN below, as in PyTorch.
  var rest = 0.0;
  for (var j = 0u; j < CLASSES; j++) {
    if (j != best_at) { rest += exp(logits[base + j] - best); }
  }
  let sum = 1.0 + rest;
  let log_sum = log1p(rest);

  if (LOG_SOFTMAX_ONLY) {
    for (var j = 0u; j < CLASSES; j++) { gradLogits[base + j] = (logits[base + j] - best) - log_sum; }
    return;
  }

  let label = labels[row];
  let valid = label < CLASSES;
  let label_logit = logits[base + min(label, CLASSES - 1u)];
  // A NaN constant is a compile error in WGSL, so it is made from a runtime variable.
  var nan_bits = 0x7fc00000u;
  var loss = log_sum - (label_logit - best);
  if (SMOOTHING != 0.0) {
    var uniform_loss = 0.0;
    for (var j = 0u; j < CLASSES; j++) { uniform_loss += log_sum - (logits[base + j] - best); }
    loss = (1.0 - SMOOTHING) * loss + SMOOTHING * uniform_loss / f32(CLASSES);
  }
  sampleLoss[row] = select(bitcast<f32>(nan_bits), loss, valid);
  predictions[row] = best_at;
  let inv_sum = 1.0 / sum;
  let inv_batch = 1.0 / f32(BATCH);
  for (var j = 0u; j < CLASSES; j++) {
    let p = exp(logits[base + j] - best) * inv_sum;
    if (SMOOTHING != 0.0) {
      gradLogits[base + j] = (p - select(0.0, 1.0 - SMOOTHING, valid && j == label) - SMOOTHING / f32(CLASSES)) * inv_batch;
    } else {
      gradLogits[base + j] = (p - select(0.0, 1.0, valid && j == label)) * inv_batch;
    }
  }
}
