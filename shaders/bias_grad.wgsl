// bias_grad: gradBias[j] = sum over i < ROWS of gradOutput[i*COLS + j], the column sums of a
// [ROWS, COLS] row-major matrix (the bias gradient of a linear layer, rows = batch).
// bindings: 0 gradOutput: array<f32> [ROWS, COLS] (read), 1 gradBias: array<f32> [COLS] (read_write)
// One invocation per column sums its rows in order, so the result is the same bit for bit every run.
// dispatch: ceil(COLS / WG) workgroups, split over x and y (see workgroupGrid).

override ROWS: u32;
override COLS: u32;
override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> gradOutput: array<f32>;
@group(0) @binding(1) var<storage, read_write> gradBias: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * WG + lid;
  if (j >= COLS) { return; }
  var sum = 0.0;
  for (var i = 0u; i < ROWS; i++) { sum += gradOutput[i * COLS + j]; }
  gradBias[j] = sum;
}
