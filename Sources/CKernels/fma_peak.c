// The FMA peak loop, in C because Swift compiles a whole module for one instruction set: the
// project's Swift kernels are built for AVX2, and an AVX-512 machine's peak is twice what an AVX2
// loop reaches there. Each function carries its own target; the caller picks by CPU features.
#include "fma_peak.h"
#include <immintrin.h>

int emotion3d_fma_lanes(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 16;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 8;
    return 0;
}

// 12 accumulators: more than the FMA latency (4–5 cycles) × units (2) in flight.
#define FMA_LOOP(VEC, SET1, FMADD, ADD, STORE, LANES)                                          \
    VEC a[12];                                                                                 \
    for (int i = 0; i < 12; i++) a[i] = SET1(seed + (float)i);                                 \
    const VEC x = SET1(0.999999f), y = SET1(1e-7f);                                            \
    for (long n = 0; n < iterations; n++) {                                                    \
        a[0] = FMADD(a[0], x, y); a[1] = FMADD(a[1], x, y); a[2] = FMADD(a[2], x, y);          \
        a[3] = FMADD(a[3], x, y); a[4] = FMADD(a[4], x, y); a[5] = FMADD(a[5], x, y);          \
        a[6] = FMADD(a[6], x, y); a[7] = FMADD(a[7], x, y); a[8] = FMADD(a[8], x, y);          \
        a[9] = FMADD(a[9], x, y); a[10] = FMADD(a[10], x, y); a[11] = FMADD(a[11], x, y);      \
    }                                                                                          \
    for (int i = 1; i < 12; i++) a[0] = ADD(a[0], a[i]);                                       \
    float lanes[LANES];                                                                        \
    STORE(lanes, a[0]);                                                                        \
    float sum = 0;                                                                             \
    for (int i = 0; i < LANES; i++) sum += lanes[i];                                           \
    return sum;

__attribute__((target("avx512f"))) static float loop16(long iterations, float seed) {
    FMA_LOOP(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_storeu_ps, 16)
}

__attribute__((target("avx2,fma"))) static float loop8(long iterations, float seed) {
    FMA_LOOP(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_storeu_ps, 8)
}

float emotion3d_fma_loop(long iterations, float seed, int lanes) {
    return lanes == 16 ? loop16(iterations, seed) : loop8(iterations, seed);
}
