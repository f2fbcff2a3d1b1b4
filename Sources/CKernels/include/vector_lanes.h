#ifndef EMOTION3D_VECTOR_LANES_H
#define EMOTION3D_VECTOR_LANES_H

// Partial loads and stores of 8-float vectors (AVX masked moves), for Swift kernels whose rows
// end inside a vector. Swift builds such a vector lane by lane through memory, and a full-width
// load of lanes just stored one by one stalls on store forwarding (measured: a third of the
// Winograd gradient transform on 12-wide planes). Masked-off lanes are neither read nor faulted,
// so `p` may point before or past the memory of the lanes taken. Inlined into the Swift callers.

#include <immintrin.h>

/// 8 floats: imported into Swift as `SIMD8<Float>`.
typedef float emotion3d_float8 __attribute__((vector_size(32)));

/// Lanes `lo..<hi` set (any bounds; empty when `hi <= lo`).
__attribute__((target("avx2"), always_inline)) static inline __m256i emotion3d_lanes_between(long lo, long hi) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const int low = lo < 0 ? 0 : lo > 8 ? 8 : (int)lo, high = hi < 0 ? 0 : hi > 8 ? 8 : (int)hi;
    return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(low), lane), _mm256_cmpgt_epi32(_mm256_set1_epi32(high), lane));
}

/// `p[lo..<hi]` in lanes `lo..<hi`, 0 in the others (a plain load when that is all 8).
__attribute__((target("avx2"), always_inline)) static inline emotion3d_float8 emotion3d_load_lanes(const float *p, long lo, long hi) {
    if (lo <= 0 && hi >= 8) return (emotion3d_float8)_mm256_loadu_ps(p);
    return (emotion3d_float8)_mm256_maskload_ps(p, emotion3d_lanes_between(lo, hi));
}

/// Stores the first `count` lanes of `v` to `p` (a plain store when `count >= 8`); the floats
/// past them are not touched.
__attribute__((target("avx2"), always_inline)) static inline void emotion3d_store_lanes(float *p, emotion3d_float8 v, long count) {
    if (count >= 8) return _mm256_storeu_ps(p, (__m256)v);
    _mm256_maskstore_ps(p, emotion3d_lanes_between(0, count), (__m256)v);
}

#endif
