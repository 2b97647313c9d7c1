// normalize: uint8 pixels (packed four to a u32, little-endian) -> f32 (x/255 - MEAN) / STD, with a
// mean and std per channel (include/normalize_pixel.wgsl; channel 0's are MEAN and STD).
// bindings: 0 pixels: array<u32> (read), 1 output: array<f32> (read_write, COUNT elements)
// dispatch: ceil(COUNT / WORKGROUP) workgroups, split over x and y (see workgroupGrid).

override COUNT: u32;
override MEAN: f32 = 0.1307;
override STD: f32 = 0.3081;
override WORKGROUP: u32 = 256;

// #include "normalize_pixel.wgsl"

@group(0) @binding(0) var<storage, read> pixels: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WORKGROUP + lid;
  if (i >= COUNT) { return; }
  let byte = (pixels[i / 4u] >> (8u * (i % 4u))) & 0xffu;
  output[i] = normalize_pixel(f32(byte), i);
}
