#ifndef EMOTION3D_DIRECT_CONV16_H
#define EMOTION3D_DIRECT_CONV16_H

/// Limits of `emotion3d_direct_conv16_forward`: input rows per output row (Cin × kD × kH) and kernel width.
#define EMOTION3D_DIRECT_CONV16_MAX_ROWS 256
#define EMOTION3D_DIRECT_CONV16_MAX_WIDTH 16

/// A stride-1 3D convolution's sizes: channels, and (depth, height, width) triples.
struct emotion3d_conv_shape {
    int in_channels, out_channels;
    int input[3], output[3], kernel[3], padding[3];
};

/// Packs weights `[Cout, Cin, taps]` as `[ceil(Cout/16), Cin, taps, 16]` (zero filters pad the last
/// block), each output channel's filter times `scale[o]` unless `scale` is NULL.
void emotion3d_direct_conv16_pack(const float *w, const float *scale, float *packed, int out_channels, int in_channels, int taps);

/// `y [N, Cout, D', H', W'] = conv(x [N, Cin, D, H, W], w) (+ bias [Cout])` for tasks
/// `first..<last`, task = sample × D' + output depth plane; `packed` from
/// `emotion3d_direct_conv16_pack`, `bias` may be NULL. Needs AVX-512F (`emotion3d_fma_lanes() == 16`).
void emotion3d_direct_conv16_forward(
    const float *x, const float *packed, const float *bias, float *y, const struct emotion3d_conv_shape *shape, long first, long last);

#endif
