// conv2d_texture_gemm_weight: the weight and bias gradients of a stride-1 convolution as a matrix
// product from the textures of shaders/conv2d_texture_gemm.wgsl, split over k for parallelism:
//   partial[s, ((o * C + c) * KH + ky) * KW + kx] = sum over (n, y, x) in split s of
//                                                    gradOut[n, o, y, x] * in_pad[n, c, y + ky, x + kx]
//   partial[s, WEIGHTS + o]                       = sum over (n, y, x) in split s of gradOut[n, o, y, x]
// then conv2d_backward_weight_reduce.wgsl adds the splits in order. Row o of the implicit matrix is an
// output channel, column t = (ky * KW + kx) * C4 + g a texel of taps (4 input channels 4g .. 4g+3),
// and k runs over output positions (n, y, x): split s holds image rows n * OH + y in
// [s * ROWS_PER_SPLIT, (s + 1) * ROWS_PER_SPLIT), each x from 0.
// Each invocation owns OB texels of output channels (4 OB channels) x TB columns (4 TB channels of
// taps) of one split: per k, OB + TB texel fetches feed 16 OB TB fmas (outer products of texels).
// Sums run over k in order from the split's first row, so the result is deterministic.
// The output gradient is read from its packed planes padded by GP (those the input gradient reads).
// bindings: 0 input: texture_2d<f32> (the forward's packed input: tiles of (OW + KW - 1) * C4 x
//           (OH + KH - 1) texels, PER_ROW_I to a row of tiles), 1 gradOut: texture_2d<f32> (tiles of
//           (OW + 2 GP) * O4 x (OH + 2 GP) texels, PER_ROW_G to a row), 2 partial: array<f32>
//           [SPLITS, WEIGHTS + O] (read_write)
// dispatch: ceil(SPLITS * O_BLOCKS * COL_BLOCKS / WG) workgroups, split over x and y (see workgroupGrid),
//   where O_BLOCKS = ceil(O4 / OB), COL_BLOCKS = ceil(KH * KW * C4 / TB).

override N: u32;
override C: u32;
override C4: u32;      // ceil(C / 4)
override O: u32;
override O4: u32;      // ceil(O / 4)
override KH: u32;
override KW: u32;
override OH: u32;
override OW: u32;
override GP: u32;      // the output gradient's padding in its texture
override PER_ROW_I: u32;
override PER_ROW_G: u32;
override OB: u32 = 4u;  // at most MAX_OB
override TB: u32 = 6u;  // at most MAX_TB
override ROWS_PER_SPLIT: u32;
override SPLITS: u32;
override O_BLOCKS: u32;
override COL_BLOCKS: u32;
override WG: u32 = 8u;

const MAX_OB = 6u;
const MAX_TB = 8u;

@group(0) @binding(0) var input: texture_2d<f32>;
@group(0) @binding(1) var gradOut: texture_2d<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;

// acc[(i * 4 + a) * MAX_TB + j] sums output channel 4 (ob0 + i) + a times column t0 + j's 4 channels.
// Indexed by constants only once the guarded statements fold, so they stay out of dynamic memory
// (see shaders/matmul.wgsl on why the blocks are written out rather than looped).
var<private> acc: array<vec4f, MAX_OB * 4u * MAX_TB>;
var<private> bacc: array<vec4f, MAX_OB>;

/** acc += gs ⊗ xs, every lane of every gradient texel times every column texel. */
fn outer(gs: array<vec4f, MAX_OB>, xs: array<vec4f, MAX_TB>) {
  {
    let g = gs[0];
    acc[0] = fma(vec4f(g.x), xs[0], acc[0]);
    if (TB > 1u) { acc[1] = fma(vec4f(g.x), xs[1], acc[1]); }
    if (TB > 2u) { acc[2] = fma(vec4f(g.x), xs[2], acc[2]); }
    if (TB > 3u) { acc[3] = fma(vec4f(g.x), xs[3], acc[3]); }
    if (TB > 4u) { acc[4] = fma(vec4f(g.x), xs[4], acc[4]); }
    if (TB > 5u) { acc[5] = fma(vec4f(g.x), xs[5], acc[5]); }
    if (TB > 6u) { acc[6] = fma(vec4f(g.x), xs[6], acc[6]); }
    if (TB > 7u) { acc[7] = fma(vec4f(g.x), xs[7], acc[7]); }
    acc[8] = fma(vec4f(g.y), xs[0], acc[8]);
    if (TB > 1u) { acc[9] = fma(vec4f(g.y), xs[1], acc[9]); }
    if (TB > 2u) { acc[10] = fma(vec4f(g.y), xs[2], acc[10]); }
    if (TB > 3u) { acc[11] = fma(vec4f(g.y), xs[3], acc[11]); }
    if (TB > 4u) { acc[12] = fma(vec4f(g.y), xs[4], acc[12]); }
    if (TB > 5u) { acc[13] = fma(vec4f(g.y), xs[5], acc[13]); }
    if (TB > 6u) { acc[14] = fma(vec4f(g.y), xs[6], acc[14]); }
    if (TB > 7u) { acc[15] = fma(vec4f(g.y), xs[7], acc[15]); }
    acc[16] = fma(vec4f(g.z), xs[0], acc[16]);
    if (TB > 1u) { acc[17] = fma(vec4f(g.z), xs[1], acc[17]); }
    if (TB > 2u) { acc[18] = fma(vec4f(g.z), xs[2], acc[18]); }
    if (TB > 3u) { acc[19] = fma(vec4f(g.z), xs[3], acc[19]); }
    if (TB > 4u) { acc[20] = fma(vec4f(g.z), xs[4], acc[20]); }
    if (TB > 5u) { acc[21] = fma(vec4f(g.z), xs[5], acc[21]); }
    if (TB > 6u) { acc[22] = fma(vec4f(g.z), xs[6], acc[22]); }
    if (TB > 7u) { acc[23] = fma(vec4f(g.z), xs[7], acc[23]); }
    acc[24] = fma(vec4f(g.w), xs[0], acc[24]);
    if (TB > 1u) { acc[25] = fma(vec4f(g.w), xs[1], acc[25]); }
    if (TB > 2u) { acc[26] = fma(vec4f(g.w), xs[2], acc[26]); }
    if (TB > 3u) { acc[27] = fma(vec4f(g.w), xs[3], acc[27]); }
    if (TB > 4u) { acc[28] = fma(vec4f(g.w), xs[4], acc[28]); }
    if (TB > 5u) { acc[29] = fma(vec4f(g.w), xs[5], acc[29]); }
    if (TB > 6u) { acc[30] = fma(vec4f(g.w), xs[6], acc[30]); }
    if (TB > 7u) { acc[31] = fma(vec4f(g.w), xs[7], acc[31]); }
  }
  if (OB > 1u) {
    let g = gs[1];
    acc[32] = fma(vec4f(g.x), xs[0], acc[32]);
    if (TB > 1u) { acc[33] = fma(vec4f(g.x), xs[1], acc[33]); }
    if (TB > 2u) { acc[34] = fma(vec4f(g.x), xs[2], acc[34]); }
    if (TB > 3u) { acc[35] = fma(vec4f(g.x), xs[3], acc[35]); }
    if (TB > 4u) { acc[36] = fma(vec4f(g.x), xs[4], acc[36]); }
    if (TB > 5u) { acc[37] = fma(vec4f(g.x), xs[5], acc[37]); }
    if (TB > 6u) { acc[38] = fma(vec4f(g.x), xs[6], acc[38]); }
    if (TB > 7u) { acc[39] = fma(vec4f(g.x), xs[7], acc[39]); }
    acc[40] = fma(vec4f(g.y), xs[0], acc[40]);
    if (TB > 1u) { acc[41] = fma(vec4f(g.y), xs[1], acc[41]); }
    if (TB > 2u) { acc[42] = fma(vec4f(g.y), xs[2], acc[42]); }
    if (TB > 3u) { acc[43] = fma(vec4f(g.y), xs[3], acc[43]); }
    if (TB > 4u) { acc[44] = fma(vec4f(g.y), xs[4], acc[44]); }
    if (TB > 5u) { acc[45] = fma(vec4f(g.y), xs[5], acc[45]); }
    if (TB > 6u) { acc[46] = fma(vec4f(g.y), xs[6], acc[46]); }
    if (TB > 7u) { acc[47] = fma(vec4f(g.y), xs[7], acc[47]); }
    acc[48] = fma(vec4f(g.z), xs[0], acc[48]);
    if (TB > 1u) { acc[49] = fma(vec4f(g.z), xs[1], acc[49]); }
    if (TB > 2u) { acc[50] = fma(vec4f(g.z), xs[2], acc[50]); }
    if (TB > 3u) { acc[51] = fma(vec4f(g.z), xs[3], acc[51]); }
    if (TB > 4u) { acc[52] = fma(vec4f(g.z), xs[4], acc[52]); }
    if (TB > 5u) { acc[53] = fma(vec4f(g.z), xs[5], acc[53]); }
    if (TB > 6u) { acc[54] = fma(vec4f(g.z), xs[6], acc[54]); }
    if (TB > 7u) { acc[55] = fma(vec4f(g.z), xs[7], acc[55]); }
    acc[56] = fma(vec4f(g.w), xs[0], acc[56]);
    if (TB > 1u) { acc[57] = fma(vec4f(g.w), xs[1], acc[57]); }
    if (TB > 2u) { acc[58] = fma(vec4f(g.w), xs[2], acc[58]); }
    if (TB > 3u) { acc[59] = fma(vec4f(g.w), xs[3], acc[59]); }
    if (TB > 4u) { acc[60] = fma(vec4f(g.w), xs[4], acc[60]); }
    if (TB > 5u) { acc[61] = fma(vec4f(g.w), xs[5], acc[61]); }
    if (TB > 6u) { acc[62] = fma(vec4f(g.w), xs[6], acc[62]); }
    if (TB > 7u) { acc[63] = fma(vec4f(g.w), xs[7], acc[63]); }
  }
  if (OB > 2u) {
    let g = gs[2];
    acc[64] = fma(vec4f(g.x), xs[0], acc[64]);
    if (TB > 1u) { acc[65] = fma(vec4f(g.x), xs[1], acc[65]); }
    if (TB > 2u) { acc[66] = fma(vec4f(g.x), xs[2], acc[66]); }
    if (TB > 3u) { acc[67] = fma(vec4f(g.x), xs[3], acc[67]); }
    if (TB > 4u) { acc[68] = fma(vec4f(g.x), xs[4], acc[68]); }
    if (TB > 5u) { acc[69] = fma(vec4f(g.x), xs[5], acc[69]); }
    if (TB > 6u) { acc[70] = fma(vec4f(g.x), xs[6], acc[70]); }
    if (TB > 7u) { acc[71] = fma(vec4f(g.x), xs[7], acc[71]); }
    acc[72] = fma(vec4f(g.y), xs[0], acc[72]);
    if (TB > 1u) { acc[73] = fma(vec4f(g.y), xs[1], acc[73]); }
    if (TB > 2u) { acc[74] = fma(vec4f(g.y), xs[2], acc[74]); }
    if (TB > 3u) { acc[75] = fma(vec4f(g.y), xs[3], acc[75]); }
    if (TB > 4u) { acc[76] = fma(vec4f(g.y), xs[4], acc[76]); }
    if (TB > 5u) { acc[77] = fma(vec4f(g.y), xs[5], acc[77]); }
    if (TB > 6u) { acc[78] = fma(vec4f(g.y), xs[6], acc[78]); }
    if (TB > 7u) { acc[79] = fma(vec4f(g.y), xs[7], acc[79]); }
    acc[80] = fma(vec4f(g.z), xs[0], acc[80]);
    if (TB > 1u) { acc[81] = fma(vec4f(g.z), xs[1], acc[81]); }
    if (TB > 2u) { acc[82] = fma(vec4f(g.z), xs[2], acc[82]); }
    if (TB > 3u) { acc[83] = fma(vec4f(g.z), xs[3], acc[83]); }
    if (TB > 4u) { acc[84] = fma(vec4f(g.z), xs[4], acc[84]); }
    if (TB > 5u) { acc[85] = fma(vec4f(g.z), xs[5], acc[85]); }
    if (TB > 6u) { acc[86] = fma(vec4f(g.z), xs[6], acc[86]); }
    if (TB > 7u) { acc[87] = fma(vec4f(g.z), xs[7], acc[87]); }
    acc[88] = fma(vec4f(g.w), xs[0], acc[88]);
    if (TB > 1u) { acc[89] = fma(vec4f(g.w), xs[1], acc[89]); }
    if (TB > 2u) { acc[90] = fma(vec4f(g.w), xs[2], acc[90]); }
    if (TB > 3u) { acc[91] = fma(vec4f(g.w), xs[3], acc[91]); }
    if (TB > 4u) { acc[92] = fma(vec4f(g.w), xs[4], acc[92]); }
    if (TB > 5u) { acc[93] = fma(vec4f(g.w), xs[5], acc[93]); }
    if (TB > 6u) { acc[94] = fma(vec4f(g.w), xs[6], acc[94]); }
    if (TB > 7u) { acc[95] = fma(vec4f(g.w), xs[7], acc[95]); }
  }
  if (OB > 3u) {
    let g = gs[3];
    acc[96] = fma(vec4f(g.x), xs[0], acc[96]);
    if (TB > 1u) { acc[97] = fma(vec4f(g.x), xs[1], acc[97]); }
    if (TB > 2u) { acc[98] = fma(vec4f(g.x), xs[2], acc[98]); }
    if (TB > 3u) { acc[99] = fma(vec4f(g.x), xs[3], acc[99]); }
    if (TB > 4u) { acc[100] = fma(vec4f(g.x), xs[4], acc[100]); }
    if (TB > 5u) { acc[101] = fma(vec4f(g.x), xs[5], acc[101]); }
    if (TB > 6u) { acc[102] = fma(vec4f(g.x), xs[6], acc[102]); }
    if (TB > 7u) { acc[103] = fma(vec4f(g.x), xs[7], acc[103]); }
    acc[104] = fma(vec4f(g.y), xs[0], acc[104]);
    if (TB > 1u) { acc[105] = fma(vec4f(g.y), xs[1], acc[105]); }
    if (TB > 2u) { acc[106] = fma(vec4f(g.y), xs[2], acc[106]); }
    if (TB > 3u) { acc[107] = fma(vec4f(g.y), xs[3], acc[107]); }
    if (TB > 4u) { acc[108] = fma(vec4f(g.y), xs[4], acc[108]); }
    if (TB > 5u) { acc[109] = fma(vec4f(g.y), xs[5], acc[109]); }
    if (TB > 6u) { acc[110] = fma(vec4f(g.y), xs[6], acc[110]); }
    if (TB > 7u) { acc[111] = fma(vec4f(g.y), xs[7], acc[111]); }
    acc[112] = fma(vec4f(g.z), xs[0], acc[112]);
    if (TB > 1u) { acc[113] = fma(vec4f(g.z), xs[1], acc[113]); }
    if (TB > 2u) { acc[114] = fma(vec4f(g.z), xs[2], acc[114]); }
    if (TB > 3u) { acc[115] = fma(vec4f(g.z), xs[3], acc[115]); }
    if (TB > 4u) { acc[116] = fma(vec4f(g.z), xs[4], acc[116]); }
    if (TB > 5u) { acc[117] = fma(vec4f(g.z), xs[5], acc[117]); }
    if (TB > 6u) { acc[118] = fma(vec4f(g.z), xs[6], acc[118]); }
    if (TB > 7u) { acc[119] = fma(vec4f(g.z), xs[7], acc[119]); }
    acc[120] = fma(vec4f(g.w), xs[0], acc[120]);
    if (TB > 1u) { acc[121] = fma(vec4f(g.w), xs[1], acc[121]); }
    if (TB > 2u) { acc[122] = fma(vec4f(g.w), xs[2], acc[122]); }
    if (TB > 3u) { acc[123] = fma(vec4f(g.w), xs[3], acc[123]); }
    if (TB > 4u) { acc[124] = fma(vec4f(g.w), xs[4], acc[124]); }
    if (TB > 5u) { acc[125] = fma(vec4f(g.w), xs[5], acc[125]); }
    if (TB > 6u) { acc[126] = fma(vec4f(g.w), xs[6], acc[126]); }
    if (TB > 7u) { acc[127] = fma(vec4f(g.w), xs[7], acc[127]); }
  }
  if (OB > 4u) {
    let g = gs[4];
    acc[128] = fma(vec4f(g.x), xs[0], acc[128]);
    if (TB > 1u) { acc[129] = fma(vec4f(g.x), xs[1], acc[129]); }
    if (TB > 2u) { acc[130] = fma(vec4f(g.x), xs[2], acc[130]); }
    if (TB > 3u) { acc[131] = fma(vec4f(g.x), xs[3], acc[131]); }
    if (TB > 4u) { acc[132] = fma(vec4f(g.x), xs[4], acc[132]); }
    if (TB > 5u) { acc[133] = fma(vec4f(g.x), xs[5], acc[133]); }
    if (TB > 6u) { acc[134] = fma(vec4f(g.x), xs[6], acc[134]); }
    if (TB > 7u) { acc[135] = fma(vec4f(g.x), xs[7], acc[135]); }
    acc[136] = fma(vec4f(g.y), xs[0], acc[136]);
    if (TB > 1u) { acc[137] = fma(vec4f(g.y), xs[1], acc[137]); }
    if (TB > 2u) { acc[138] = fma(vec4f(g.y), xs[2], acc[138]); }
    if (TB > 3u) { acc[139] = fma(vec4f(g.y), xs[3], acc[139]); }
    if (TB > 4u) { acc[140] = fma(vec4f(g.y), xs[4], acc[140]); }
    if (TB > 5u) { acc[141] = fma(vec4f(g.y), xs[5], acc[141]); }
    if (TB > 6u) { acc[142] = fma(vec4f(g.y), xs[6], acc[142]); }
    if (TB > 7u) { acc[143] = fma(vec4f(g.y), xs[7], acc[143]); }
    acc[144] = fma(vec4f(g.z), xs[0], acc[144]);
    if (TB > 1u) { acc[145] = fma(vec4f(g.z), xs[1], acc[145]); }
    if (TB > 2u) { acc[146] = fma(vec4f(g.z), xs[2], acc[146]); }
    if (TB > 3u) { acc[147] = fma(vec4f(g.z), xs[3], acc[147]); }
    if (TB > 4u) { acc[148] = fma(vec4f(g.z), xs[4], acc[148]); }
    if (TB > 5u) { acc[149] = fma(vec4f(g.z), xs[5], acc[149]); }
    if (TB > 6u) { acc[150] = fma(vec4f(g.z), xs[6], acc[150]); }
    if (TB > 7u) { acc[151] = fma(vec4f(g.z), xs[7], acc[151]); }
    acc[152] = fma(vec4f(g.w), xs[0], acc[152]);
    if (TB > 1u) { acc[153] = fma(vec4f(g.w), xs[1], acc[153]); }
    if (TB > 2u) { acc[154] = fma(vec4f(g.w), xs[2], acc[154]); }
    if (TB > 3u) { acc[155] = fma(vec4f(g.w), xs[3], acc[155]); }
    if (TB > 4u) { acc[156] = fma(vec4f(g.w), xs[4], acc[156]); }
    if (TB > 5u) { acc[157] = fma(vec4f(g.w), xs[5], acc[157]); }
    if (TB > 6u) { acc[158] = fma(vec4f(g.w), xs[6], acc[158]); }
    if (TB > 7u) { acc[159] = fma(vec4f(g.w), xs[7], acc[159]); }
  }
  if (OB > 5u) {
    let g = gs[5];
    acc[160] = fma(vec4f(g.x), xs[0], acc[160]);
    if (TB > 1u) { acc[161] = fma(vec4f(g.x), xs[1], acc[161]); }
    if (TB > 2u) { acc[162] = fma(vec4f(g.x), xs[2], acc[162]); }
    if (TB > 3u) { acc[163] = fma(vec4f(g.x), xs[3], acc[163]); }
    if (TB > 4u) { acc[164] = fma(vec4f(g.x), xs[4], acc[164]); }
    if (TB > 5u) { acc[165] = fma(vec4f(g.x), xs[5], acc[165]); }
    if (TB > 6u) { acc[166] = fma(vec4f(g.x), xs[6], acc[166]); }
    if (TB > 7u) { acc[167] = fma(vec4f(g.x), xs[7], acc[167]); }
    acc[168] = fma(vec4f(g.y), xs[0], acc[168]);
    if (TB > 1u) { acc[169] = fma(vec4f(g.y), xs[1], acc[169]); }
    if (TB > 2u) { acc[170] = fma(vec4f(g.y), xs[2], acc[170]); }
    if (TB > 3u) { acc[171] = fma(vec4f(g.y), xs[3], acc[171]); }
    if (TB > 4u) { acc[172] = fma(vec4f(g.y), xs[4], acc[172]); }
    if (TB > 5u) { acc[173] = fma(vec4f(g.y), xs[5], acc[173]); }
    if (TB > 6u) { acc[174] = fma(vec4f(g.y), xs[6], acc[174]); }
    if (TB > 7u) { acc[175] = fma(vec4f(g.y), xs[7], acc[175]); }
    acc[176] = fma(vec4f(g.z), xs[0], acc[176]);
    if (TB > 1u) { acc[177] = fma(vec4f(g.z), xs[1], acc[177]); }
    if (TB > 2u) { acc[178] = fma(vec4f(g.z), xs[2], acc[178]); }
    if (TB > 3u) { acc[179] = fma(vec4f(g.z), xs[3], acc[179]); }
    if (TB > 4u) { acc[180] = fma(vec4f(g.z), xs[4], acc[180]); }
    if (TB > 5u) { acc[181] = fma(vec4f(g.z), xs[5], acc[181]); }
    if (TB > 6u) { acc[182] = fma(vec4f(g.z), xs[6], acc[182]); }
    if (TB > 7u) { acc[183] = fma(vec4f(g.z), xs[7], acc[183]); }
    acc[184] = fma(vec4f(g.w), xs[0], acc[184]);
    if (TB > 1u) { acc[185] = fma(vec4f(g.w), xs[1], acc[185]); }
    if (TB > 2u) { acc[186] = fma(vec4f(g.w), xs[2], acc[186]); }
    if (TB > 3u) { acc[187] = fma(vec4f(g.w), xs[3], acc[187]); }
    if (TB > 4u) { acc[188] = fma(vec4f(g.w), xs[4], acc[188]); }
    if (TB > 5u) { acc[189] = fma(vec4f(g.w), xs[5], acc[189]); }
    if (TB > 6u) { acc[190] = fma(vec4f(g.w), xs[6], acc[190]); }
    if (TB > 7u) { acc[191] = fma(vec4f(g.w), xs[7], acc[191]); }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let block = (wid.x + wid.y * nwg.x) * WG + lid;
  if (block >= SPLITS * O_BLOCKS * COL_BLOCKS) { return; }
  let colBlock = block % COL_BLOCKS;
  let t0 = colBlock * TB;
  let ob0 = ((block / COL_BLOCKS) % O_BLOCKS) * OB;
  let split = block / (COL_BLOCKS * O_BLOCKS);
  let taps = KH * KW * C4;

  // Texel offsets of each gradient texel within a position, and of each column within a receptive
  // field. Blocks past the end (ragged) read the last texel or column; their sums are not stored.
  var go: array<u32, MAX_OB>;
  for (var i = 0u; i < OB; i++) { go[i] = min(ob0 + i, O4 - 1u); }
  var dx: array<u32, MAX_TB>;
  var dy: array<u32, MAX_TB>;
  for (var j = 0u; j < TB; j++) {
    let t = min(t0 + j, taps - 1u);
    dx[j] = ((t / C4) % KW) * C4 + t % C4;
    dy[j] = t / (C4 * KW);
  }

  let gTileW = (OW + 2u * GP) * O4;
  let gTileH = OH + 2u * GP;
  let iTileW = (OW + KW - 1u) * C4;
  let iTileH = OH + KH - 1u;
  let rowEnd = min((split + 1u) * ROWS_PER_SPLIT, N * OH);
  for (var row = split * ROWS_PER_SPLIT; row < rowEnd; row++) {
    let n = row / OH;
    let y = row % OH;
    let gx0 = (n % PER_ROW_G) * gTileW + GP * O4;
    let gy = (n / PER_ROW_G) * gTileH + y + GP;
    let ix0 = (n % PER_ROW_I) * iTileW;
    let iy = (n / PER_ROW_I) * iTileH + y;
    for (var x = 0u; x < OW; x++) {
      let gx = gx0 + x * O4;
      let ix = ix0 + x * C4;
      var gs: array<vec4f, MAX_OB>;
      var xs: array<vec4f, MAX_TB>;
      gs[0] = textureLoad(gradOut, vec2u(gx + go[0], gy), 0);
      if (OB > 1u) { gs[1] = textureLoad(gradOut, vec2u(gx + go[1], gy), 0); }
      if (OB > 2u) { gs[2] = textureLoad(gradOut, vec2u(gx + go[2], gy), 0); }
      if (OB > 3u) { gs[3] = textureLoad(gradOut, vec2u(gx + go[3], gy), 0); }
      if (OB > 4u) { gs[4] = textureLoad(gradOut, vec2u(gx + go[4], gy), 0); }
      if (OB > 5u) { gs[5] = textureLoad(gradOut, vec2u(gx + go[5], gy), 0); }
      xs[0] = textureLoad(input, vec2u(ix + dx[0], iy + dy[0]), 0);
      if (TB > 1u) { xs[1] = textureLoad(input, vec2u(ix + dx[1], iy + dy[1]), 0); }
      if (TB > 2u) { xs[2] = textureLoad(input, vec2u(ix + dx[2], iy + dy[2]), 0); }
      if (TB > 3u) { xs[3] = textureLoad(input, vec2u(ix + dx[3], iy + dy[3]), 0); }
      if (TB > 4u) { xs[4] = textureLoad(input, vec2u(ix + dx[4], iy + dy[4]), 0); }
      if (TB > 5u) { xs[5] = textureLoad(input, vec2u(ix + dx[5], iy + dy[5]), 0); }
      if (TB > 6u) { xs[6] = textureLoad(input, vec2u(ix + dx[6], iy + dy[6]), 0); }
      if (TB > 7u) { xs[7] = textureLoad(input, vec2u(ix + dx[7], iy + dy[7]), 0); }
      bacc[0] += gs[0];
      if (OB > 1u) { bacc[1] += gs[1]; }
      if (OB > 2u) { bacc[2] += gs[2]; }
      if (OB > 3u) { bacc[3] += gs[3]; }
      if (OB > 4u) { bacc[4] += gs[4]; }
      if (OB > 5u) { bacc[5] += gs[5]; }
      outer(gs, xs);
    }
  }

  // One store site in a rolled loop; `staged` is indexed dynamically, `acc` stays put.
  let base = split * (O * C * KH * KW + O);
  var staged = acc;
  for (var e = 0u; e < OB * 4u * TB; e++) {
    let j = e % TB;
    let ia = e / TB;
    let o = 4u * ob0 + ia;
    let t = t0 + j;
    if (o < O && t < taps) {
      let g = t % C4;
      let kx = (t / C4) % KW;
      let ky = t / (C4 * KW);
      let v = staged[ia * MAX_TB + j];
      for (var b = 0u; b < 4u; b++) {
        let c = 4u * g + b;
        if (c < C) { partial[base + ((o * C + c) * KH + ky) * KW + kx] = v[b]; }
      }
    }
  }
  if (colBlock == 0u) {
    var bstaged = bacc;
    for (var ia = 0u; ia < OB * 4u; ia++) {
      let o = 4u * ob0 + ia;
      if (o < O) { partial[base + O * C * KH * KW + o] = bstaged[ia / 4u][ia % 4u]; }
    }
  }
}
