// Direct 3D convolution at 16 lanes for any channel count and plane size, on inputs padded in
// height and width beforehand. A plane's outputs are numbered along the padded width
// (p = oh · W_padded + ow), so the input a tap reads for 16 consecutive outputs is one unaligned
// load, whatever the width; the columns past W' are computed and dropped at the store (compress
// store), which costs 2 of W_padded columns. A tile keeps 8 output channels × 3 vectors of 16
// outputs (48 of one plane, or 16 of each of 3 samples on planes of ≤ 16 outputs) in 24
// registers: per tap 3 loads and 8 broadcast weights feed 24 FMAs, in a flat loop over a list of
// the taps' input offsets (measured alone: 90–100 % of the FMA peak from L1). The data gradient
// is the same convolution of the padded output gradient with the flipped, transposed filter.
#include "blocked_conv.h"
#include <immintrin.h>
#include <string.h>

void emotion3d_blocked_pad(const float *x, float *padded, long first, long last, int h, int w, int top, int bottom, int left, int right) {
    const int hp = h + top + bottom, wp = w + left + right;
    for (long plane = first; plane < last; plane++) {
        const float *source = x + plane * h * w;
        float *target = padded + plane * hp * wp;
        memset(target, 0, sizeof(float) * (size_t)top * wp);
        for (int r = 0; r < h; r++) {
            float *row = target + (long)(r + top) * wp;
            for (int c = 0; c < left; c++) row[c] = 0;
            memcpy(row + left, source + (long)r * w, sizeof(float) * (size_t)w);
            for (int c = left + w; c < wp; c++) row[c] = 0;
        }
        memset(target + (long)(top + h) * wp, 0, sizeof(float) * (size_t)bottom * wp);
    }
}

void emotion3d_blocked_pack(const float *w, const float *scale, float *packed, int out_channels, int in_channels, int taps, int transposed) {
    // The kernel's own channels: (input, output) of the layer, or (output, input) when transposed.
    const int sources = transposed ? out_channels : in_channels, targets = transposed ? in_channels : out_channels;
    for (int block = 0; block < (targets + 7) / 8; block++)
        for (int c = 0; c < sources; c++)
            for (int t = 0; t < taps; t++)
                for (int j = 0; j < 8; j++) {
                    const int o = block * 8 + j;
                    float value = 0.0f;
                    if (o < targets) {
                        const int layer_out = transposed ? c : o;
                        value = transposed ? w[((long)c * in_channels + o) * taps + (taps - 1 - t)] : w[((long)o * in_channels + c) * taps + t];
                        if (scale) value *= scale[layer_out];
                    }
                    packed[(((long)block * sources + c) * taps + t) * 8 + j] = value;
                }
}

// The sizes a tile needs.
struct geometry {
    int cin, cout, depth, kd, kh, kw, pd, wp, out_w, out_d;
    long plane, channel, outputs, out_plane, out_volume, weights_per_channel;
};

// Input channels a tile's accumulators go through before the next channel block's: their input
// rows (3 taps' rows × 4 lines × 8 channels ≈ 18 KiB for a 3×3 kernel) stay in L1 while all the
// task's channel blocks read them.
#define CHANNEL_CHUNK 8
// Output channel blocks (of 8) a task covers at most.
#define BLOCKS_PER_TASK 8
// Floats of one tile's sums for one block: 3 vectors × 8 channels × 16.
#define TILE_FLOATS (3 * 8 * 16)

// Adds channels `0..<channels` of one tile to `partial` (V × 8 vectors; from zero when `first`).
// Vector v reads input from `x[v]` (channel 0 of the chunk, its first position); `offsets` are the
// `count` taps' input offsets, `w` their weights (8 floats each, then the next input channel's at
// `weights_per_channel`). Inlined with a constant V, so the 24 accumulators stay in registers.
__attribute__((target("avx512f"), always_inline)) static inline void accumulate(
    const int V, const struct geometry *g, const float *const *x, const long *offsets, int count, const float *w, int channels, float *partial,
    int first) {
    __m512 acc[3][8];
#pragma clang loop unroll(full)
    for (int v = 0; v < V; v++)
#pragma clang loop unroll(full)
        for (int o = 0; o < 8; o++) acc[v][o] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(partial + (v * 8 + o) * 16);
    const float *x0 = x[0], *x1 = x[V > 1 ? 1 : 0], *x2 = x[V > 2 ? 2 : 0];
    for (int c = 0; c < channels; c++) {
        const float *wc = w + c * g->weights_per_channel;
        for (int t = 0; t < count; t++) {
            const long offset = offsets[t];
            const __m512 v0 = _mm512_loadu_ps(x0 + offset);
            const __m512 v1 = V > 1 ? _mm512_loadu_ps(x1 + offset) : v0;
            const __m512 v2 = V > 2 ? _mm512_loadu_ps(x2 + offset) : v0;
            const float *wt = wc + t * 8;
#pragma clang loop unroll(full)
            for (int o = 0; o < 8; o++) {
                const __m512 wv = _mm512_set1_ps(wt[o]);
                acc[0][o] = _mm512_fmadd_ps(v0, wv, acc[0][o]);
                if (V > 1) acc[1][o] = _mm512_fmadd_ps(v1, wv, acc[1][o]);
                if (V > 2) acc[2][o] = _mm512_fmadd_ps(v2, wv, acc[2][o]);
            }
        }
        x0 += g->channel;
        x1 += g->channel;
        x2 += g->channel;
    }
#pragma clang loop unroll(full)
    for (int v = 0; v < V; v++)
#pragma clang loop unroll(full)
        for (int o = 0; o < 8; o++) _mm512_storeu_ps(partial + (v * 8 + o) * 16, acc[v][o]);
}

// The lanes of the 16 outputs from position `p` that are real outputs (inside the plane, in a
// column below W'), and the first one's index in the output plane.
static void real_lanes(const struct geometry *g, long p, unsigned *mask, long *start) {
    *mask = 0;
    *start = -1;
    for (int l = 0; l < 16; l++) {
        const long q = p + l;
        if (q < g->outputs && q % g->wp < g->out_w) {
            *mask |= 1u << l;
            if (*start < 0) *start = (q / g->wp) * g->out_w + q % g->wp;
        }
    }
}

// Stores a tile's sums (V × 8 vectors, output channels from `o0`) with bias: vector v's real
// lanes (`mask[v]`, from `real_lanes`) go to `y[v] + start[v]`, `y[v]` the output of channel o0.
__attribute__((target("avx512f"))) static void store(
    int V, const struct geometry *g, const float *partial, float *const *y, const unsigned *mask, const long *start, const float *bias, int o0) {
    for (int v = 0; v < V; v++) {
        if (!mask[v]) continue;
        for (int o = 0; o < 8 && o0 + o < g->cout; o++) {
            __m512 value = _mm512_loadu_ps(partial + (v * 8 + o) * 16);
            if (bias) value = _mm512_add_ps(value, _mm512_set1_ps(bias[o0 + o]));
            float *target = y[v] + (long)o * g->out_volume + start[v];
            if (mask[v] == 0xFFFFu) _mm512_storeu_ps(target, value);
            else _mm512_mask_compressstoreu_ps(target, (__mmask16)mask[v], value);
        }
    }
}

// A tile: V vectors of 16 outputs; vector v covers positions `p[v]…` of the plane whose padded
// input starts at `x[v]` and whose output (channel 0, this depth plane) starts at `y[v]`.
struct tile {
    int vectors;
    long p[3];
    const float *x[3];
    float *y[3];
};

// Tiles `tiles[0..<count]` for output channel blocks `b0..<b1`. Input channels go in chunks, each
// through every tile's and block's sums (`partials`), so the chunk's input rows and weights are
// read from cache by all of them.
__attribute__((target("avx512f"))) static void run_tiles(
    const struct geometry *g, const struct tile *tiles, int count, const long *offsets, int taps, const float *packed, long tap0, int b0,
    int b1, const float *bias, float *partials) {
    const int span = b1 - b0;
    for (int c0 = 0; c0 < g->cin; c0 += CHANNEL_CHUNK) {
        const int channels = g->cin - c0 < CHANNEL_CHUNK ? g->cin - c0 : CHANNEL_CHUNK;
        for (int i = 0; i < count; i++) {
            const struct tile *t = &tiles[i];
            const float *x[3];
            for (int v = 0; v < t->vectors; v++) x[v] = t->x[v] + c0 * g->channel + t->p[v];
            for (int b = b0; b < b1; b++) {
                const float *w = packed + ((long)b * g->cin + c0) * g->weights_per_channel + tap0;
                float *partial = partials + ((long)i * span + b - b0) * TILE_FLOATS;
                if (t->vectors == 3) accumulate(3, g, x, offsets, taps, w, channels, partial, c0 == 0);
                else if (t->vectors == 2) accumulate(2, g, x, offsets, taps, w, channels, partial, c0 == 0);
                else accumulate(1, g, x, offsets, taps, w, channels, partial, c0 == 0);
            }
        }
    }
    for (int i = 0; i < count; i++) {
        // Which lanes are real outputs depends on the positions only: once per tile, for every block.
        unsigned mask[3];
        long start[3];
        for (int v = 0; v < tiles[i].vectors; v++) real_lanes(g, tiles[i].p[v], &mask[v], &start[v]);
        for (int b = b0; b < b1; b++) {
            float *out[3];
            for (int v = 0; v < tiles[i].vectors; v++) out[v] = tiles[i].y[v] + (long)b * 8 * g->out_volume;
            store(tiles[i].vectors, g, partials + ((long)i * span + b - b0) * TILE_FLOATS, out, mask, start, bias, b * 8);
        }
    }
}

int emotion3d_blocked_block_groups(const struct emotion3d_conv_shape *s) {
    const int blocks = (s->out_channels + 7) / 8;
    return (blocks + BLOCKS_PER_TASK - 1) / BLOCKS_PER_TASK;
}

int emotion3d_blocked_samples_per_task(const struct emotion3d_conv_shape *s) {
    const int wp = s->output[2] + s->kernel[2] - 1;
    return (long)(s->output[1] - 1) * wp + s->output[2] <= 16 ? 3 : 1;
}

__attribute__((target("avx512f"))) void emotion3d_blocked_forward(
    const float *padded, const float *packed, const float *bias, float *y, const struct emotion3d_conv_shape *s, int samples, float *partials,
    long first, long last) {
    struct geometry g;
    g.cin = s->in_channels;
    g.cout = s->out_channels;
    g.depth = s->input[0];
    g.kd = s->kernel[0];
    g.kh = s->kernel[1];
    g.kw = s->kernel[2];
    g.pd = s->padding[0];
    g.out_d = s->output[0];
    g.out_w = s->output[2];
    g.wp = s->output[2] + g.kw - 1;
    g.plane = (long)(s->output[1] + g.kh - 1) * g.wp;
    g.channel = g.depth * g.plane;
    g.outputs = (long)(s->output[1] - 1) * g.wp + g.out_w;
    g.out_plane = (long)s->output[1] * s->output[2];
    g.out_volume = g.out_d * g.out_plane;
    const int taps = g.kd * g.kh * g.kw, khw = g.kh * g.kw;
    g.weights_per_channel = (long)taps * 8;
    const int per_task = emotion3d_blocked_samples_per_task(s);
    const int blocks = (g.cout + 7) / 8, groups = emotion3d_blocked_block_groups(s);
    const long sample_in = (long)g.cin * g.channel, sample_out = (long)g.cout * g.out_volume;
    long offsets[EMOTION3D_BLOCKED_MAX_TAPS];
    struct tile tiles[EMOTION3D_BLOCKED_TILES];
    for (long task = first; task < last; task++) {
        const int group = (int)(task % groups);
        const long plane = task / groups;
        const long n0 = plane / g.out_d * per_task;
        const int od = (int)(plane % g.out_d);
        const int b0 = blocks * group / groups, b1 = blocks * (group + 1) / groups;
        // The depth taps that fall inside the input, and every tap's input offset.
        const int a0 = g.pd - od > 0 ? g.pd - od : 0;
        const int a1 = g.depth + g.pd - od < g.kd ? g.depth + g.pd - od : g.kd;
        int count = 0;
        for (int a = a0; a < a1; a++)
            for (int b = 0; b < g.kh; b++)
                for (int k = 0; k < g.kw; k++) offsets[count++] = (long)(od + a - g.pd) * g.plane + (long)b * g.wp + k;
        const long tap0 = (long)a0 * khw * 8;
        if (per_task == 3) {
            struct tile *t = &tiles[0];
            t->vectors = samples - n0 < 3 ? (int)(samples - n0) : 3;
            for (int v = 0; v < t->vectors; v++) {
                t->p[v] = 0;
                t->x[v] = padded + (n0 + v) * sample_in;
                t->y[v] = y + (n0 + v) * sample_out + (long)od * g.out_plane;
            }
            run_tiles(&g, tiles, 1, offsets, count, packed, tap0, b0, b1, bias, partials);
            continue;
        }
        // The plane's tiles of 3 vectors (the last of fewer), in runs that share the partials.
        const float *x = padded + n0 * sample_in;
        float *out = y + n0 * sample_out + (long)od * g.out_plane;
        int used = 0;
        for (long p0 = 0; p0 < g.outputs; p0 += 48) {
            struct tile *t = &tiles[used++];
            t->vectors = p0 + 32 < g.outputs ? 3 : p0 + 16 < g.outputs ? 2 : 1;
            for (int v = 0; v < 3; v++) {
                t->p[v] = p0 + 16 * v;
                t->x[v] = x;
                t->y[v] = out;
            }
            if (used == EMOTION3D_BLOCKED_TILES || p0 + 48 >= g.outputs) {
                run_tiles(&g, tiles, used, offsets, count, packed, tap0, b0, b1, bias, partials);
                used = 0;
            }
        }
    }
}

// The filter gradient: dw[o][c][a][b][k] = Σ dy[n][o][od][oh][ow] · x[n][c][od + a - pd][oh + b][ow + k]
// (x padded). With dy laid out in rows of the padded input's width W_padded (2 zero columns past
// W'), the positions of a plane and the input they meet through tap (b, k) are one offset apart,
// so 16 positions are one load of each. Three output channels × the 9 taps of (c, a) keep 27 sums
// in registers over every position of a unit's planes: per 16 positions 3 loads of dy and 9 of x
// feed 27 FMAs (2 channels: 11 loads for 18 FMAs, 30 % slower alone). A unit (one sample's run of
// output planes) is padded by the worker that computes it into its own buffer of about 1 MiB, so
// the padded copies stay in that core's L2 and no worker waits for the other until the end.

// Output channels per filter gradient task: 3 × 9 sums in 27 registers, with 3 of dy and 1 of x.
#define OF 3

// Adds dy[o] × x at the 9 tap offsets, for 16 positions, to `acc` (9 per channel), for the first `of` channels.
__attribute__((target("avx512f"), always_inline)) static inline void filter_step(const __m512 *d, const float *x, long wp, __m512 *acc, int of) {
#pragma clang loop unroll(full)
    for (int t = 0; t < 9; t++) {
        const __m512 v = _mm512_loadu_ps(x + (t / 3) * wp + t % 3);
#pragma clang loop unroll(full)
        for (int o = 0; o < OF; o++)
            if (o < of) acc[o * 9 + t] = _mm512_fmadd_ps(d[o], v, acc[o * 9 + t]);
    }
}

// Adds Σ over `count` positions of dy[o] × x at the 9 tap offsets to `acc` (9 per channel), `of` channels.
__attribute__((target("avx512f"), always_inline)) static inline void filter_range(
    const float *const *dy, const float *x, long count, long wp, __m512 *acc, int of) {
    long p = 0;
    __m512 d[OF];
    for (; p + 16 <= count; p += 16) {
#pragma clang loop unroll(full)
        for (int o = 0; o < OF; o++)
            if (o < of) d[o] = _mm512_loadu_ps(dy[o] + p);
        filter_step(d, x + p, wp, acc, of);
    }
    if (p < count) {
        // The last positions: dy past them reads as 0, so the input there (finite: the next
        // frame, the output gradient after the input, or the zero slack) adds nothing.
        const __mmask16 mask = (__mmask16)((1u << (count - p)) - 1u);
#pragma clang loop unroll(full)
        for (int o = 0; o < OF; o++)
            if (o < of) d[o] = _mm512_maskz_loadu_ps(mask, dy[o] + p);
        filter_step(d, x + p, wp, acc, of);
    }
}

void emotion3d_blocked_unit_frames(const struct emotion3d_conv_shape *s, int od_first, int od_last, int *first, int *end) {
    const int f0 = od_first - s->padding[0], f1 = od_last - 1 - s->padding[0] + s->kernel[0];
    *first = f0 > 0 ? f0 : 0;
    *end = f1 < s->input[0] ? f1 : s->input[0];
    if (*end < *first) *end = *first;
}

int emotion3d_blocked_unit_frames_at_most(const struct emotion3d_conv_shape *s, int planes) {
    return planes - 1 + s->kernel[0] < s->input[0] ? planes - 1 + s->kernel[0] : s->input[0];
}

long emotion3d_blocked_filter_unit_floats(const struct emotion3d_conv_shape *s, int planes) {
    const long wp = s->output[2] + 2;
    return (long)s->in_channels * emotion3d_blocked_unit_frames_at_most(s, planes) * (s->output[1] + 2) * wp
        + (long)s->out_channels * planes * s->output[1] * wp + EMOTION3D_BLOCKED_SLACK;
}

// The sums of `of` output channels from o0 against input channel c over the unit, added to dw.
__attribute__((target("avx512f"), always_inline)) static inline void filter_task(
    const float *x, const float *dy, float *dw, const struct emotion3d_conv_shape *s, int od_first, int od_last, int frame_first, int frames,
    int o0, int c, int of) {
    const int cin = s->in_channels, depth = s->input[0], kd = s->kernel[0], pd = s->padding[0], planes = od_last - od_first;
    const long wp = s->output[2] + 2, x_plane = (long)(s->output[1] + 2) * wp, dy_plane = (long)s->output[1] * wp;
    // Positions of a plane up to its last output: the input rows they read stay inside the frame.
    const long count = (long)(s->output[1] - 1) * wp + s->output[2];
    const float *xc = x + (long)c * frames * x_plane;
    for (int a = 0; a < kd; a++) {
        __m512 acc[OF * 9];
#pragma clang loop unroll(full)
        for (int j = 0; j < OF * 9; j++) acc[j] = _mm512_setzero_ps();
        const int low = pd - a > od_first ? pd - a : od_first, high = depth + pd - a < od_last ? depth + pd - a : od_last;
        for (int od = low; od < high; od++) {
            const float *d[OF];
            for (int o = 0; o < OF; o++) d[o] = dy + ((long)(o0 + (o < of ? o : 0)) * planes + od - od_first) * dy_plane;
            filter_range(d, xc + (long)(od + a - pd - frame_first) * x_plane, count, wp, acc, of);
        }
        for (int o = 0; o < of; o++)
            for (int j = 0; j < 9; j++) dw[(((long)(o0 + o) * cin + c) * kd + a) * 9 + j] += _mm512_reduce_add_ps(acc[o * 9 + j]);
    }
}

__attribute__((target("avx512f"))) void emotion3d_blocked_filter_unit(
    const float *x, const float *dy, float *unit, float *dw, const struct emotion3d_conv_shape *s, long n, int od_first, int od_last) {
    const int cin = s->in_channels, cout = s->out_channels, depth = s->input[0], out_d = s->output[0];
    const int h = s->input[1], w = s->input[2], out_h = s->output[1], out_w = s->output[2], ph = s->padding[1], pw = s->padding[2];
    const int planes = od_last - od_first;
    const long wp = out_w + 2, x_plane = (long)(out_h + 2) * wp, dy_plane = (long)out_h * wp;
    int frame_first, frame_end;
    emotion3d_blocked_unit_frames(s, od_first, od_last, &frame_first, &frame_end);
    const int frames = frame_end - frame_first;
    // The unit's input frames, channel by channel, padded by (ph, pw); then its output gradient
    // planes with 2 zero columns per row; then zeros that the input's last loads may reach.
    float *ux = unit, *udy = unit + (long)cin * frames * x_plane;
    for (int c = 0; c < cin; c++)
        emotion3d_blocked_pad(
            x + (((n * cin + c) * depth) + frame_first) * (long)h * w, ux + (long)c * frames * x_plane, 0, frames, h, w, ph, ph, pw, pw);
    for (int o = 0; o < cout; o++)
        emotion3d_blocked_pad(
            dy + (((n * cout + o) * out_d) + od_first) * (long)out_h * out_w, udy + (long)o * planes * dy_plane, 0, planes, out_h, out_w, 0, 0, 0, 2);
    memset(udy + (long)cout * planes * dy_plane, 0, sizeof(float) * EMOTION3D_BLOCKED_SLACK);
    // Output channel triples (the last may hold 1 or 2), each against every input channel: the
    // triple's gradient stays in L1 while the input channels stream past it.
    for (int o0 = 0; o0 < cout; o0 += OF) {
        const int of = cout - o0 < OF ? cout - o0 : OF;
        for (int c = 0; c < cin; c++) {
            if (of == 3) filter_task(ux, udy, dw, s, od_first, od_last, frame_first, frames, o0, c, 3);
            else if (of == 2) filter_task(ux, udy, dw, s, od_first, od_last, frame_first, frames, o0, c, 2);
            else filter_task(ux, udy, dw, s, od_first, od_last, frame_first, frames, o0, c, 1);
        }
    }
}
