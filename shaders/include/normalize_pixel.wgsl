// Per-channel normalization of a pixel value x (0-255) at flat index i of [..., NORM_CHANNELS,
// NORM_PLANE]: (x / 255 - mean(c)) / std(c) for its channel c. Channel 0 takes the including shader's
// MEAN and STD, so a one-channel input computes exactly what it did before channels had their own.
override NORM_CHANNELS: u32 = 1u;
override NORM_PLANE: u32 = 1u;
override MEAN1: f32 = 0.0;
override STD1: f32 = 1.0;
override MEAN2: f32 = 0.0;
override STD2: f32 = 1.0;

fn normalize_pixel(x: f32, i: u32) -> f32 {
  let c = (i / NORM_PLANE) % NORM_CHANNELS;
  let mean = select(select(MEAN, MEAN1, c == 1u), MEAN2, c == 2u);
  let deviation = select(select(STD, STD1, c == 1u), STD2, c == 2u);
  return (x / 255.0 - mean) / deviation;
}
