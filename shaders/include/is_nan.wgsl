// is_nan: shared by the kernels that propagate NaN as PyTorch does (max-pool, the pooling packs and
// convolution, softmax), pasted in where a kernel has the line `// #include "is_nan.wgsl"`.
// By bits, so a compiler that assumes finite floats cannot fold the test away.
fn is_nan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}
