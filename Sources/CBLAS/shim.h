#include <cblas.h>
#include <stdlib.h>
#include <string.h>

// OpenBLAS's dynamic-architecture build picks its kernels from the CPU model when it loads. 0.3.21
// (Debian 12) does not know newer Intel models (e.g. family 6 model 207, a Xeon with AVX-512) and
// falls back to its SSE3 "Prescott" kernels: sgemm ran at 10 GFLOP/s per core there instead of
// ~100. These symbols of the dynamic build let us choose again; they are weak, so a BLAS built for
// one architecture (without them) still links, and then nothing changes.
extern void *gotoblas __attribute__((weak));
extern void gotoblas_dynamic_init(void) __attribute__((weak));

/// If OpenBLAS fell back to kernels older than the CPU's vector units, and the user did not choose
/// a core (OPENBLAS_CORETYPE), selects the SkylakeX (AVX-512) or Haswell (AVX2 + FMA) kernels.
/// Call before the first BLAS call of the process, from one thread. Returns the core now in use.
static inline const char *emotion3d_openblas_select_core(void) {
    static const char *const fallbacks[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Sandybridge", NULL};
    const char *current = openblas_get_corename();
    if (&gotoblas == NULL || gotoblas_dynamic_init == NULL || getenv("OPENBLAS_CORETYPE") != NULL) return current;
    int fellBack = 0;
    for (int i = 0; fallbacks[i] != NULL; i++) fellBack |= strcmp(current, fallbacks[i]) == 0;
    if (!fellBack) return current;
    __builtin_cpu_init();
    const char *better = NULL;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("avx512vl"))
        better = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        better = "Haswell";
    if (better == NULL || strcmp(current, better) == 0) return current;
    // gotoblas_dynamic_init reads OPENBLAS_CORETYPE and does nothing while a core is set.
    setenv("OPENBLAS_CORETYPE", better, 1);
    gotoblas = NULL;
    gotoblas_dynamic_init();
    unsetenv("OPENBLAS_CORETYPE");
    return openblas_get_corename();
}
