#ifndef EMOTION3D_FMA_PEAK_H
#define EMOTION3D_FMA_PEAK_H

/// Widest single-precision FMA vector this CPU runs: 16 lanes (AVX-512F), 8 (AVX2 + FMA) or 0.
int emotion3d_fma_lanes(void);

/// Runs `iterations` × 12 independent FMAs of `lanes`-wide vectors (as `emotion3d_fma_lanes`
/// reports, or 8) and returns a sum of the accumulators, so the loop cannot be removed.
/// Flops done: iterations × 12 × lanes × 2.
float emotion3d_fma_loop(long iterations, float seed, int lanes);

#endif
