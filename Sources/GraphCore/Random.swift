/// A small, fast, seedable generator (SplitMix64). Same seed, same stream, on every machine.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Codable, Hashable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// A stateless hash of one 64-bit word; used for counter-based streams (dropout masks).
    @inlinable public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 random bits.
    public mutating func nextUnitFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUnitDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Standard normal by Box–Muller.
    public mutating func nextNormal() -> Double {
        let u1 = max(nextUnitDouble(), 1e-300)
        let u2 = nextUnitDouble()
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }
}

import RealModule
@usableFromInline func _log(_ x: Double) -> Double { Double.log(x) }
@usableFromInline func _cos(_ x: Double) -> Double { Double.cos(x) }
