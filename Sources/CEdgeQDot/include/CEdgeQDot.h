// The dot-product step of the int8 GEMM tiles for the Swift kernels (Kernels/Int8/I8GEMM.swift says why it
// is reached through C): one header of static inline functions, which Swift imports and LLVM inlines into
// the kernels. Compiled for a CPU with dotprod (`-mcpu=cortex-a76`, the rpi5 profile; C and Swift get the
// same CPU), `edgeq_sdot` is the instruction `sdot`, and LLVM folds the lane broadcast the kernels write
// before it into the by-element form `sdot v.4s, w.16b, x.4b[lane]`. On other aarch64 CPUs (Armv8.0 NEON:
// rpi3, rpi4) it is smull + smull2 + addp + sadalp. Elsewhere (x86_64) it is the instruction's definition in
// plain C: the kernel table selects the dot-product kernels only on aarch64, and the host tests run them
// bit for bit through this definition.
#ifndef CEDGEQ_DOT_H
#define CEDGEQ_DOT_H

#include <stdint.h>

// Imported into Swift as SIMD4<Int32> and SIMD16<Int8>.
typedef int32_t edgeq_i32x4 __attribute__((ext_vector_type(4)));
typedef int8_t edgeq_i8x16 __attribute__((ext_vector_type(16)));

#if defined(__aarch64__)
#include <arm_neon.h>
#endif

// Lane i of the result: acc[i] + Σ_{j<4} w[4i+j]·x[4i+j], products and sums exact in int32 (wrapping on
// overflow of the sum, as the kernels' accumulators do). `w` holds weights, in [-127, 127] (QUANTIZATION.md;
// checked at load): the Armv8.0 form adds two products in int16 (|w·x| <= 16256).
static inline __attribute__((always_inline)) edgeq_i32x4 edgeq_sdot(edgeq_i32x4 acc, edgeq_i8x16 w, edgeq_i8x16 x) {
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
    return (edgeq_i32x4)vdotq_s32((int32x4_t)acc, (int8x16_t)w, (int8x16_t)x);
#elif defined(__aarch64__)
    int8x16_t a = (int8x16_t)w, b = (int8x16_t)x;
    int16x8_t pairs = vpaddq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(b)), vmull_high_s8(a, b));
    return (edgeq_i32x4)vpadalq_s16((int32x4_t)acc, pairs);
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
