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

// For the rpi5 depthwise kernel (Kernels/Int8/I8DepthwiseConv.swift, on the host through this plain C):
// four int8 vectors x0..x3 (16 channels of 4 depthwise taps) transposed for sdot: vector k holds channels
// 4k ..< 4k+4, byte 4i+j = x_j[4k+i] (channel 4k+i, tap j). aarch64: one 4-register tbl per vector.
typedef struct { edgeq_i8x16 v0, v1, v2, v3; } edgeq_i8x16x4;

static inline __attribute__((always_inline)) edgeq_i8x16x4 edgeq_transpose4(
    edgeq_i8x16 x0, edgeq_i8x16 x1, edgeq_i8x16 x2, edgeq_i8x16 x3) {
    edgeq_i8x16x4 r;
#if defined(__aarch64__)
    int8x16x4_t t = { { (int8x16_t)x0, (int8x16_t)x1, (int8x16_t)x2, (int8x16_t)x3 } };
    const uint8x16_t i0 = { 0, 16, 32, 48, 1, 17, 33, 49, 2, 18, 34, 50, 3, 19, 35, 51 };
    const uint8x16_t four = vdupq_n_u8(4);
    uint8x16_t i1 = vaddq_u8(i0, four), i2 = vaddq_u8(i1, four), i3 = vaddq_u8(i2, four);
    r.v0 = (edgeq_i8x16)vqtbl4q_s8(t, i0);
    r.v1 = (edgeq_i8x16)vqtbl4q_s8(t, i1);
    r.v2 = (edgeq_i8x16)vqtbl4q_s8(t, i2);
    r.v3 = (edgeq_i8x16)vqtbl4q_s8(t, i3);
#else
    edgeq_i8x16 x[4] = { x0, x1, x2, x3 };
    edgeq_i8x16 *out[4] = { &r.v0, &r.v1, &r.v2, &r.v3 };
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) (*out[k])[4 * i + j] = x[j][4 * k + i];
#endif
    return r;
}

// For the binary convolution's AVX2 tile (Kernels/Binary/B1Conv.swift says why it is reached through C: LLVM
// makes neither instruction from a Swift lane loop, but a scalarized lookup and a byte-extract tree).
typedef uint8_t edgeq_u8x32 __attribute__((ext_vector_type(32)));
typedef uint64_t edgeq_u64x4 __attribute__((ext_vector_type(4)));

#if defined(__AVX2__)
#include <immintrin.h>
#endif

// r[i] = table[(i & 16) | (index[i] & 15)] for index bytes < 128: vpshufb, a 16-entry lookup in each 128-bit
// half. The kernel's indices are nibbles.
static inline __attribute__((always_inline)) edgeq_u8x32 edgeq_lookup16(edgeq_u8x32 table, edgeq_u8x32 index) {
#if defined(__AVX2__)
    return (edgeq_u8x32)_mm256_shuffle_epi8((__m256i)table, (__m256i)index);
#else
    edgeq_u8x32 r;
    for (int i = 0; i < 32; i++) r[i] = (index[i] & 128) ? 0 : table[(i & 16) | (index[i] & 15)];
    return r;
#endif
}

// Lane i of the result: the sum of bytes 8i ..< 8i+8 (vpsadbw against zero).
static inline __attribute__((always_inline)) edgeq_u64x4 edgeq_sum_bytes8(edgeq_u8x32 x) {
#if defined(__AVX2__)
    return (edgeq_u64x4)_mm256_sad_epu8((__m256i)x, _mm256_setzero_si256());
#else
    edgeq_u64x4 r;
    for (int i = 0; i < 4; i++) {
        uint64_t sum = 0;
        for (int j = 0; j < 8; j++) sum += x[8 * i + j];
        r[i] = sum;
    }
    return r;
#endif
}

// For the binary convolution's bit-packed output: 4 pixels x 8 lanes of int32 -> 32 bits, byte p of the result
// holding the sign bits of m_p (bit i = lane i < 0). AVX2: 2 vpackssdw + vpacksswb (saturating: signs kept),
// vpermd to put each pixel's 8 bytes together, vpmovmskb. LLVM made lane extracts of Swift bit gathering.
typedef int32_t edgeq_i32x8 __attribute__((ext_vector_type(8)));

static inline __attribute__((always_inline)) uint32_t edgeq_sign_bits32(
    edgeq_i32x8 m0, edgeq_i32x8 m1, edgeq_i32x8 m2, edgeq_i32x8 m3) {
#if defined(__AVX2__)
    __m256i words01 = _mm256_packs_epi32((__m256i)m0, (__m256i)m1);  // m0 0-3, m1 0-3 | m0 4-7, m1 4-7
    __m256i words23 = _mm256_packs_epi32((__m256i)m2, (__m256i)m3);
    __m256i bytes = _mm256_packs_epi16(words01, words23);             // dword k: m_k 0-3 | m_k 4-7
    bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    return (uint32_t)_mm256_movemask_epi8(bytes);
#elif defined(__aarch64__)
    // Per pixel: narrow to bytes (0 or -1), keep bit i in lane i, add the lanes.
    const uint8x8_t bit = { 1, 2, 4, 8, 16, 32, 64, 128 };
    edgeq_i32x8 m[4] = { m0, m1, m2, m3 };
    uint32_t r = 0;
    for (int p = 0; p < 4; p++) {
        int32x4_t lo = vshrq_n_s32(vld1q_s32((const int32_t *)&m[p]), 31);
        int32x4_t hi = vshrq_n_s32(vld1q_s32((const int32_t *)&m[p] + 4), 31);
        uint8x8_t b = vreinterpret_u8_s8(vmovn_s16(vcombine_s16(vmovn_s32(lo), vmovn_s32(hi))));
        r |= (uint32_t)vaddv_u8(vand_u8(b, bit)) << (8 * p);
    }
    return r;
#else
    edgeq_i32x8 m[4] = { m0, m1, m2, m3 };
    uint32_t r = 0;
    for (int p = 0; p < 4; p++)
        for (int i = 0; i < 8; i++) r |= (uint32_t)(m[p][i] < 0) << (8 * p + i);
    return r;
#endif
}

// For the 2x64 tile's bit-packed output: 32 lanes of int16 (lo: lanes 0-15, hi: 16-31) -> bit i = lane i < 0.
// AVX2: vpacksswb (saturating: signs kept; lanes 0-7, 16-23 | 8-15, 24-31), vpermq back into order, vpmovmskb.
typedef int16_t edgeq_i16x16 __attribute__((ext_vector_type(16)));

static inline __attribute__((always_inline)) uint32_t edgeq_sign_bits16x2(edgeq_i16x16 lo, edgeq_i16x16 hi) {
#if defined(__AVX2__)
    __m256i bytes = _mm256_packs_epi16((__m256i)lo, (__m256i)hi);
    return (uint32_t)_mm256_movemask_epi8(_mm256_permute4x64_epi64(bytes, 0xD8));
#else
    uint32_t r = 0;
    for (int i = 0; i < 16; i++) r |= (uint32_t)(lo[i] < 0) << i | (uint32_t)(hi[i] < 0) << (16 + i);
    return r;
#endif
}

// For the 2x64 tile's bit-packed output when a window has no zero and no padding: 32 channels' popcounts c
// (bytes) -> x = (c ^ s) + o (wrapping bytes, then signed), signs: bit i = x[i] > a[i]; non-zero: also where
// b[i] > x[i]. Returns signs | non-zero << 32. AVX2: vpxor, vpaddb, 2 vpcmpgtb, vpor, 2 vpmovmskb.
typedef int8_t edgeq_i8x32 __attribute__((ext_vector_type(32)));

static inline __attribute__((always_inline)) uint64_t edgeq_sign_bits_bytes(
    edgeq_u8x32 c, edgeq_u8x32 s, edgeq_u8x32 o, edgeq_i8x32 a, edgeq_i8x32 b) {
#if defined(__AVX2__)
    __m256i x = _mm256_add_epi8(_mm256_xor_si256((__m256i)c, (__m256i)s), (__m256i)o);
    __m256i negative = _mm256_cmpgt_epi8(x, (__m256i)a);
    __m256i nonzero = _mm256_or_si256(negative, _mm256_cmpgt_epi8((__m256i)b, x));
    return (uint64_t)(uint32_t)_mm256_movemask_epi8(negative)
        | (uint64_t)(uint32_t)_mm256_movemask_epi8(nonzero) << 32;
#else
    uint64_t r = 0;
    for (int i = 0; i < 32; i++) {
        int8_t x = (int8_t)(uint8_t)((uint8_t)(c[i] ^ s[i]) + o[i]);
        r |= (uint64_t)(x > a[i]) << i | (uint64_t)(x > a[i] || b[i] > x) << (32 + i);
    }
    return r;
#endif
}

#endif
