// The Armv8.2 dot-product instruction for the Swift int8 kernels (Kernels/Int8/I8GEMM.swift says why it is
// reached through C): one header of static inline functions, which Swift imports and LLVM inlines into the
// kernels, so a call is the bare instruction. Compiled for a CPU with dotprod (`-mcpu=cortex-a76`, the rpi5
// profile; C and Swift get the same CPU), `edgeq_sdot` is `sdot`, and LLVM folds the lane broadcast the
// kernels write before it into the by-element form `sdot v.4s, w.16b, x.4b[lane]`. Everywhere else
// (x86_64, Armv8.0 boards) EDGEQ_SDOT is 0, the kernel table never selects the dot-product kernels, and
// `edgeq_sdot` is the instruction's definition in plain C, so that the host tests run the same kernels bit
// for bit (slowly).
#ifndef CEDGEQ_DOT_H
#define CEDGEQ_DOT_H

#include <stdint.h>

// Imported into Swift as SIMD4<Int32> and SIMD16<Int8>.
typedef int32_t edgeq_i32x4 __attribute__((ext_vector_type(4)));
typedef int8_t edgeq_i8x16 __attribute__((ext_vector_type(16)));

#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
#include <arm_neon.h>
#define EDGEQ_SDOT 1
#else
#define EDGEQ_SDOT 0
#endif

// Lane i of the result: acc[i] + Σ_{j<4} w[4i+j]·x[4i+j], products and sums exact in int32 (wrapping on
// overflow of the sum, as the kernels' accumulators do).
static inline __attribute__((always_inline)) edgeq_i32x4 edgeq_sdot(edgeq_i32x4 acc, edgeq_i8x16 w, edgeq_i8x16 x) {
#if EDGEQ_SDOT
    return (edgeq_i32x4)vdotq_s32((int32x4_t)acc, (int8x16_t)w, (int8x16_t)x);
#else
    for (int i = 0; i < 4; i++) {
        uint32_t sum = (uint32_t)acc[i];
        for (int j = 0; j < 4; j++) sum += (uint32_t)((int32_t)w[4 * i + j] * (int32_t)x[4 * i + j]);
        acc[i] = (int32_t)sum;
    }
    return acc;
#endif
}

#endif
