// augment_affine: a random affine transform of each training image (rotation, scale, translation, one
// draw per image from Philox4x32-10 at counter (image, step, SALT, 0), key (seed, 0)), sampled
// bilinearly with zero (black) outside the image, then normalized like normalize.wgsl:
//   output = (sample / 255 - MEAN) / STD (a mean and std per channel: include/normalize_pixel.wgsl)
// An output pixel p maps back to the source q = R(-angle) (p - centre - shift) / scale + centre.
// bindings: 0 rng: vec4u (uniform: seed, step, unused, unused), 1 pixels: array<u32> (read: uint8
//           [BATCH, CHANNELS, HEIGHT, WIDTH], four to a word), 2 output: array<f32> like pixels (read_write)
// dispatch: ceil(BATCH * CHANNELS * HEIGHT * WIDTH / WG) workgroups, split over x and y.

// #include "philox.wgsl"

override BATCH: u32;
override CHANNELS: u32;
override HEIGHT: u32;
override WIDTH: u32;
/** Largest rotation, radians; scales drawn from [MIN_SCALE, MAX_SCALE]; shifts up to MAX_SHIFT pixels. */
override MAX_ROTATION: f32;
override MIN_SCALE: f32;
override MAX_SCALE: f32;
override MAX_SHIFT: f32;
override MEAN: f32 = 0.1307;
override STD: f32 = 0.3081;
override SALT: u32 = 0xa5a5a5a5u;
override WG: u32 = 64;

// #include "normalize_pixel.wgsl"

@group(0) @binding(0) var<uniform> rng: vec4u;
@group(0) @binding(1) var<storage, read> pixels: array<u32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;

fn pixel(plane: u32, y: i32, x: i32) -> f32 {
  if (y < 0 || x < 0 || y >= i32(HEIGHT) || x >= i32(WIDTH)) { return 0.0; }
  let i = plane * HEIGHT * WIDTH + u32(y) * WIDTH + u32(x);
  return f32((pixels[i / 4u] >> (8u * (i % 4u))) & 0xffu);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= BATCH * CHANNELS * HEIGHT * WIDTH) { return; }
  let plane = i / (HEIGHT * WIDTH);
  let image = plane / CHANNELS;
  let r = philox4x32(vec4u(image, rng.y, SALT, 0u), vec2u(rng.x, 0u));
  let angle = (2.0 * philox_unit(r.x) - 1.0) * MAX_ROTATION;
  let scale = MIN_SCALE + (MAX_SCALE - MIN_SCALE) * philox_unit(r.y);
  let shift = vec2f((2.0 * philox_unit(r.z) - 1.0) * MAX_SHIFT, (2.0 * philox_unit(r.w) - 1.0) * MAX_SHIFT);
  let centre = vec2f(f32(WIDTH - 1u), f32(HEIGHT - 1u)) * 0.5;
  let d = (vec2f(f32(i % WIDTH), f32((i / WIDTH) % HEIGHT)) - centre - shift) / scale;
  let c = cos(angle);
  let s = sin(angle);
  let q = vec2f(c * d.x + s * d.y, -s * d.x + c * d.y) + centre;
  let q0 = floor(q);
  let f = q - q0;
  let x0 = i32(q0.x);
  let y0 = i32(q0.y);
  let top = mix(pixel(plane, y0, x0), pixel(plane, y0, x0 + 1), f.x);
  let bottom = mix(pixel(plane, y0 + 1, x0), pixel(plane, y0 + 1, x0 + 1), f.x);
  output[i] = normalize_pixel(mix(top, bottom, f.y), i);
}
