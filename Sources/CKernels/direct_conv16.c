// Direct 3D convolution at 16 lanes for layers with few input channels (the first layer: RGB),
// where vol2col + sgemm copies 27 floats per input value for a product with 16–64 rows. In C for
// the same reason as the FMA peak loop: the function carries its own AVX-512 target, and Swift
// calls it only where `emotion3d_fma_lanes()` says 16.
#include "direct_conv16.h"
#include <immintrin.h>

// Lanes l of a 16-wide load starting at input column `start` that fall inside [0, width) and
// below `valid`.
static inline __mmask16 columns(int start, int width, int valid) {
    int low = start < 0 ? -start : 0;
    int high = width - start;
    if (high > valid) high = valid;
    if (high <= low) return 0;
    unsigned ones = high >= 16 ? 0xFFFFu : ((1u << high) - 1u);
    return (__mmask16)(ones & ~((1u << low) - 1u));
}

// One kernel-width tap: a masked load of the input row, 16 FMAs with broadcast weights.
#define TAP(k)                                                                                 \
    {                                                                                          \
        const __m512 v = _mm512_maskz_loadu_ps(masks[k], row + starts[k]);                     \
        const float *wk = w + (k) * 16;                                                        \
        for (int j = 0; j < 16; j++) acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(wk[j]), v, acc[j]); \
    }

__attribute__((target("avx512f"))) void emotion3d_direct_conv16_forward(
    const float *x, const float *packed, const float *bias, float *y, const struct emotion3d_conv_shape *s, long first, long last) {
    const int cin = s->in_channels, cout = s->out_channels;
    const int kd = s->kernel[0], kh = s->kernel[1], kw = s->kernel[2];
    const int in_d = s->input[0], in_h = s->input[1], in_w = s->input[2];
    const int out_d = s->output[0], out_h = s->output[1], out_w = s->output[2];
    const int pd = s->padding[0], ph = s->padding[1], pw = s->padding[2];
    const int taps = kd * kh * kw, blocks = (cout + 15) / 16;
    const long in_plane = (long)in_h * in_w, in_volume = in_d * in_plane;
    const long out_plane = (long)out_h * out_w, out_volume = out_d * out_plane;
    // The (channel, depth tap, row tap) input rows one output row reads, and their weights.
    const float *rows[EMOTION3D_DIRECT_CONV16_MAX_ROWS];
    int weight_offsets[EMOTION3D_DIRECT_CONV16_MAX_ROWS];
    __mmask16 masks[EMOTION3D_DIRECT_CONV16_MAX_WIDTH];
    int starts[EMOTION3D_DIRECT_CONV16_MAX_WIDTH];
    // Tasks are (sample, output depth plane), numbered n * out_d + od.
    for (long task = first; task < last; task++) {
        const long n = task / out_d;
        const int od = (int)(task % out_d);
        for (int oh = 0; oh < out_h; oh++) {
            int count = 0;
            for (int c = 0; c < cin; c++) {
                for (int a = 0; a < kd; a++) {
                    const int id = od + a - pd;
                    if (id < 0 || id >= in_d) continue;
                    for (int b = 0; b < kh; b++) {
                        const int ih = oh + b - ph;
                        if (ih < 0 || ih >= in_h) continue;
                        rows[count] = x + (n * cin + c) * in_volume + id * in_plane + (long)ih * in_w;
                        weight_offsets[count] = (c * taps + (a * kh + b) * kw) * 16;
                        count++;
                    }
                }
            }
            for (int ow = 0; ow < out_w; ow += 16) {
                const int valid = out_w - ow < 16 ? out_w - ow : 16;
                const __mmask16 store_mask = valid == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << valid) - 1u);
                for (int k = 0; k < kw; k++) {
                    starts[k] = ow + k - pw;
                    masks[k] = columns(starts[k], in_w, valid);
                }
                for (int block = 0; block < blocks; block++) {
                    const float *weights = packed + (long)block * cin * taps * 16;
                    __m512 acc[16];
                    for (int j = 0; j < 16; j++) acc[j] = _mm512_setzero_ps();
                    if (kw == 3) {
                        for (int r = 0; r < count; r++) {
                            const float *row = rows[r], *w = weights + weight_offsets[r];
                            TAP(0) TAP(1) TAP(2)
                        }
                    } else {
                        for (int r = 0; r < count; r++) {
                            const float *row = rows[r], *w = weights + weight_offsets[r];
                            for (int k = 0; k < kw; k++) TAP(k)
                        }
                    }
                    const int outputs = cout - block * 16 < 16 ? cout - block * 16 : 16;
                    for (int j = 0; j < outputs; j++) {
                        const int o = block * 16 + j;
                        const __m512 value = bias ? _mm512_add_ps(acc[j], _mm512_set1_ps(bias[o])) : acc[j];
                        _mm512_mask_storeu_ps(y + (n * cout + o) * out_volume + od * out_plane + (long)oh * out_w + ow, store_mask, value);
                    }
                }
            }
        }
    }
}

void emotion3d_direct_conv16_pack(const float *w, const float *scale, float *packed, int out_channels, int in_channels, int taps) {
    const int blocks = (out_channels + 15) / 16;
    for (int block = 0; block < blocks; block++)
        for (int c = 0; c < in_channels; c++)
            for (int t = 0; t < taps; t++)
                for (int j = 0; j < 16; j++) {
                    const int o = block * 16 + j;
                    packed[((block * in_channels + c) * taps + t) * 16 + j] =
                        o < out_channels ? w[((long)o * in_channels + c) * taps + t] * (scale ? scale[o] : 1.0f) : 0.0f;
                }
}
