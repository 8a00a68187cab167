/// Dequantization and 8x8 inverse DCT, bit-exact with libjpeg's `jpeg_idct_islow` (jidctint.c, the default
/// "accurate integer" method that Pillow and libjpeg-turbo use; their SIMD versions give the same results).
///
/// It is the Loeffler-Ligtenberg-Moschytz 1-D IDCT on columns then rows, with constants scaled by
/// 2^CONST_BITS (13) and the intermediate results of the column pass kept with PASS1_BITS (2) extra bits.
/// Arithmetic wraps in 32 bits like the C code on a 32-bit `long`; valid 8-bit data never comes near that.
enum JPEGIDCT {
    private static let constBits: Int32 = 13
    private static let pass1Bits: Int32 = 2

    // FIX(x) = round(x * 2^13), the values hard-coded in jidctint.c.
    private static let fix0_298631336: Int32 = 2446
    private static let fix0_390180644: Int32 = 3196
    private static let fix0_541196100: Int32 = 4433
    private static let fix0_765366865: Int32 = 6270
    private static let fix0_899976223: Int32 = 7373
    private static let fix1_175875602: Int32 = 9633
    private static let fix1_501321110: Int32 = 12299
    private static let fix1_847759065: Int32 = 15137
    private static let fix1_961570560: Int32 = 16069
    private static let fix2_053119869: Int32 = 16819
    private static let fix2_562915447: Int32 = 20995
    private static let fix3_072711026: Int32 = 25172

    /// Right shift with rounding (libjpeg's DESCALE).
    @inline(__always)
    private static func descale(_ x: Int32, _ shift: Int32) -> Int32 {
        (x &+ (1 &<< (shift - 1))) &>> shift
    }

    /// libjpeg's post-IDCT range limit: the value plus 128 (CENTERJSAMPLE), clamped to 0...255, where the
    /// table is indexed by the low 10 bits only (RANGE_MASK), so wildly out-of-range values wrap as in C.
    @inline(__always)
    private static func rangeLimit(_ x: Int32) -> UInt8 {
        let wrapped = ((x &<< 22) &>> 22) + 128
        return UInt8(truncatingIfNeeded: min(max(wrapped, 0), 255))
    }

    /// One 1-D 8-point IDCT (the even and odd parts of jidctint.c) of `v0...v7`; hands each result, not yet
    /// descaled, to `store(index, value)`.
    @inline(__always)
    private static func transform(
        _ v0: Int32, _ v1: Int32, _ v2: Int32, _ v3: Int32, _ v4: Int32, _ v5: Int32, _ v6: Int32, _ v7: Int32,
        _ store: (Int, Int32) -> Void
    ) {
        // Even part: the rotator is sqrt(2) * c(-6).
        let z1 = (v2 &+ v6) &* fix0_541196100
        let tmp2 = z1 &+ v6 &* -fix1_847759065
        let tmp3 = z1 &+ v2 &* fix0_765366865
        let tmp0 = (v0 &+ v4) &<< constBits
        let tmp1 = (v0 &- v4) &<< constBits
        let tmp10 = tmp0 &+ tmp3
        let tmp13 = tmp0 &- tmp3
        let tmp11 = tmp1 &+ tmp2
        let tmp12 = tmp1 &- tmp2

        // Odd part, per figure 8; the matrix is unitary and hence its transpose is its inverse.
        let sum71 = v7 &+ v1
        let sum53 = v5 &+ v3
        let sum73 = v7 &+ v3
        let sum51 = v5 &+ v1
        let z5 = (sum73 &+ sum51) &* fix1_175875602
        let z1Odd = sum71 &* -fix0_899976223
        let z2Odd = sum53 &* -fix2_562915447
        let z3Odd = sum73 &* -fix1_961570560 &+ z5
        let z4Odd = sum51 &* -fix0_390180644 &+ z5
        let odd0 = v7 &* fix0_298631336 &+ z1Odd &+ z3Odd
        let odd1 = v5 &* fix2_053119869 &+ z2Odd &+ z4Odd
        let odd2 = v3 &* fix3_072711026 &+ z2Odd &+ z3Odd
        let odd3 = v1 &* fix1_501321110 &+ z1Odd &+ z4Odd

        store(0, tmp10 &+ odd3)
        store(7, tmp10 &- odd3)
        store(1, tmp11 &+ odd2)
        store(6, tmp11 &- odd2)
        store(2, tmp12 &+ odd1)
        store(5, tmp12 &- odd1)
        store(3, tmp13 &+ odd0)
        store(4, tmp13 &- odd0)
    }

    /// `coefficients` and `quant` in natural (row-major) order; writes 8 rows of 8 samples at `output`.
    @inline(__always)
    static func inverse(
        coefficients: UnsafePointer<Int16>, quant: UnsafePointer<Int32>, workspace: UnsafeMutablePointer<Int32>,
        output: UnsafeMutablePointer<UInt8>, stride: Int
    ) {
        // Pass 1: columns, into the workspace, scaled up by 2^PASS1_BITS.
        for column in 0..<8 {
            @inline(__always) func dequantized(_ row: Int) -> Int32 {
                Int32(coefficients[row * 8 + column]) &* quant[row * 8 + column]
            }
            if coefficients[8 + column] == 0 && coefficients[16 + column] == 0 && coefficients[24 + column] == 0
                && coefficients[32 + column] == 0 && coefficients[40 + column] == 0
                && coefficients[48 + column] == 0 && coefficients[56 + column] == 0
            {
                // AC terms all zero: the column is constant (same result as the full transform, faster).
                let dc = dequantized(0) &<< pass1Bits
                for row in 0..<8 { workspace[row * 8 + column] = dc }
                continue
            }
            transform(
                dequantized(0), dequantized(1), dequantized(2), dequantized(3),
                dequantized(4), dequantized(5), dequantized(6), dequantized(7)
            ) { row, value in
                workspace[row * 8 + column] = descale(value, constBits - pass1Bits)
            }
        }

        // Pass 2: rows, removing the PASS1_BITS scaling and the factor 8 of the 2-D transform.
        for row in 0..<8 {
            let w = workspace + row * 8
            let out = output + row * stride
            if w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0 {
                let dc = rangeLimit(descale(w[0], pass1Bits + 3))
                for column in 0..<8 { out[column] = dc }
                continue
            }
            transform(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]) { column, value in
                out[column] = rangeLimit(descale(value, constBits + pass1Bits + 3))
            }
        }
    }
}
