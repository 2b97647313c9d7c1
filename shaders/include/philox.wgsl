// Philox4x32-10 (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3"): a counter-based
// generator, so every element's random word is a pure function of (key, counter) and a run replays
// bit for bit from its seed and step, in any dispatch order. WGSL has no 32x32->64 multiply, so the
// high word is built from 16-bit halves. Reference: src/reference/philox.ts.

fn philox_mulhi(a: u32, b: u32) -> u32 {
  let a_lo = a & 0xffffu;
  let a_hi = a >> 16u;
  let b_lo = b & 0xffffu;
  let b_hi = b >> 16u;
  let lh = a_lo * b_hi;
  let hl = a_hi * b_lo;
  let mid = ((a_lo * b_lo) >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return a_hi * b_hi + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}

fn philox4x32(counter: vec4u, key: vec2u) -> vec4u {
  var c = counter;
  var k = key;
  for (var round = 0u; round < 10u; round++) {
    let hi0 = philox_mulhi(0xD2511F53u, c.x);
    let lo0 = 0xD2511F53u * c.x;
    let hi1 = philox_mulhi(0xCD9E8D57u, c.z);
    let lo1 = 0xCD9E8D57u * c.z;
    c = vec4u(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    k = k + vec2u(0x9E3779B9u, 0xBB67AE85u);
  }
  return c;
}

/** A u32 word as a float in [0, 1) with 24 random bits (exact in f32). */
fn philox_unit(word: u32) -> f32 {
  return f32(word >> 8u) * (1.0 / 16777216.0);
}
