import CKernels

/// Columns `from + 2l` (even) and `from + 2l + 1` (odd) of `row` for lanes `l < 8`, 0 outside
/// `0..<width`: two loads, masked where the columns leave the row, split in registers (built lane
/// by lane, such a vector went through memory and stalled on store forwarding). The Winograd
/// transforms' block columns and the max pools' width taps.
@inline(__always)
func columnPairs(_ row: UnsafePointer<Float>, width: Int, from: Int) -> (even: SIMD8<Float>, odd: SIMD8<Float>) {
    let lo = -from, hi = width - from
    let pair = SIMD16(lowHalf: emotion3d_load_lanes(row + from, lo, hi), highHalf: emotion3d_load_lanes(row + from + 8, lo - 8, hi - 8))
    return (pair.evenHalf, pair.oddHalf)
}
