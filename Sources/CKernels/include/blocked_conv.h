#ifndef EMOTION3D_BLOCKED_CONV_H
#define EMOTION3D_BLOCKED_CONV_H

#include "direct_conv16.h"

/// Floats read past the last padded plane of a group (whole vectors past a plane's last output).
#define EMOTION3D_BLOCKED_SLACK 128

/// Copies planes `first..<last` of `x [planes][h][w]` into `padded`, each plane framed by `top`,
/// `bottom` rows and `left`, `right` columns of zeros.
void emotion3d_blocked_pad(const float *x, float *padded, long first, long last, int h, int w, int top, int bottom, int left, int right);

/// Tiles (of 48 outputs) that share one pass over the input channels, and the floats of partial
/// sums each worker of `emotion3d_blocked_forward` needs for them (8 blocks × 384 floats each).
#define EMOTION3D_BLOCKED_TILES 16
#define EMOTION3D_BLOCKED_PARTIALS 49152 // EMOTION3D_BLOCKED_TILES × 8 × 384, a literal for Swift

/// Taps (kD × kH × kW) a kernel may have at most.
#define EMOTION3D_BLOCKED_MAX_TAPS 1024

/// Packs weights `[Cout, Cin, taps]` as `[ceil(Cout / 8)][Cin][taps][8]` (zero filters pad the
/// last block). `transposed`: the data gradient's filter, flipped, with the roles of the channels
/// swapped: `[ceil(Cin / 8)][Cout][taps][8]`, `w[o][c][taps - 1 - t]` at `[c / 8][o][t][c % 8]`.
/// Each layer output channel's filter times `scale[o]` unless `scale` is NULL.
void emotion3d_blocked_pack(const float *w, const float *scale, float *packed, int out_channels, int in_channels, int taps, int transposed);

/// Samples a task of `emotion3d_blocked_forward` covers for this shape: 3 on planes of at most 16
/// outputs (one vector each), else 1.
int emotion3d_blocked_samples_per_task(const struct emotion3d_conv_shape *shape);

/// Groups of output channel blocks (of 8) the tasks of `emotion3d_blocked_forward` split Cout into
/// (a task covers at most 8 blocks).
int emotion3d_blocked_block_groups(const struct emotion3d_conv_shape *shape);

/// `y [samples, Cout, D', H', W'] = conv(padded, packed) (+ bias)` for tasks `first..<last`,
/// task = (sample group × D' + output depth plane) × block groups + block group, sample groups
/// of `emotion3d_blocked_samples_per_task`, block groups of `emotion3d_blocked_block_groups`. `padded`: the samples' inputs from
/// `emotion3d_blocked_pad` (`[samples][Cin][D][H + 2ph][W + 2pw]`, then
/// `EMOTION3D_BLOCKED_SLACK` floats of zeros); `packed`: from `emotion3d_blocked_pack`. Stride 1;
/// depth padding as the shape says (a caller may pass part of the frames: the shape's depth
/// counts them and its depth padding adds the frames left out before), height and width padding
/// already in `padded`. `partials`:
/// `EMOTION3D_BLOCKED_PARTIALS` floats of this caller's own. Needs AVX-512F.
void emotion3d_blocked_forward(
    const float *padded, const float *packed, const float *bias, float *y, const struct emotion3d_conv_shape *shape, int samples, float *partials,
    long first, long last);

/// The input frames `first..<end` that output planes `od_first..<od_last` read through the depth
/// taps (stride 1), clipped to the input.
void emotion3d_blocked_unit_frames(const struct emotion3d_conv_shape *shape, int od_first, int od_last, int *first, int *end);

/// The most frames `emotion3d_blocked_unit_frames` gives for a run of `planes` output planes.
int emotion3d_blocked_unit_frames_at_most(const struct emotion3d_conv_shape *shape, int planes);

/// Floats of the buffer `emotion3d_blocked_filter_unit` pads a unit of `planes` output planes into.
long emotion3d_blocked_filter_unit_floats(const struct emotion3d_conv_shape *shape, int planes);

/// Adds to `dw [Cout, Cin, kD, 3, 3]` the filter gradient of a 3 × 3 (height × width) stride-1
/// convolution over output planes `od_first..<od_last` of sample `n`: pads the input frames they
/// read (by the shape's height and width padding) and their output gradient into `unit`
/// (`emotion3d_blocked_filter_unit_floats(shape, od_last - od_first)` floats of the caller's own),
/// then sums every output channel against every input channel. `x [N, Cin, D, H, W]`,
/// `dy [N, Cout, D', H', W']`; depth padding as the shape says. Needs AVX-512F.
void emotion3d_blocked_filter_unit(
    const float *x, const float *dy, float *unit, float *dw, const struct emotion3d_conv_shape *shape, long n, int od_first, int od_last);

#endif
