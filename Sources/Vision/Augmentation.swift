import Foundation

/// A small deterministic generator (SplitMix64): the same seed gives the same numbers on every platform.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in `range` (53-bit resolution).
    public mutating func uniform(_ range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * Double(next() >> 11) / Double(1 << 53)
    }
}

/// One augmentation of a whole clip: the same parameters for all of its frames.
public enum Augmentation: Sendable, Hashable, CustomStringConvertible {
    /// Mirror left ↔ right.
    case flip
    /// Rotation about the centre by this angle in degrees (bilinear, black corners).
    case rotation(degrees: Double)
    /// `127 + alpha (v − 127)`, clipped to [0, 255].
    case contrast(alpha: Double)

    public var description: String {
        switch self {
        case .flip: return "flip"
        case .rotation(let d): return String(format: "rotate %.2f°", d)
        case .contrast(let a): return String(format: "contrast ×%.3f", a)
        }
    }

    /// Applies the augmentation to one frame.
    public func apply(_ img: GrayImage) -> GrayImage {
        switch self {
        case .flip: return img.flippedHorizontally()
        case .rotation(let d): return img.rotated(degrees: d)
        case .contrast(let a): return img.linearContrast(alpha: a)
        }
    }
}

/// How many augmented copies each class gets.
public struct AugmentationCounts: Sendable, Hashable {
    public var flips: Int
    public var rotations: Int
    public var contrasts: Int
    public init(flips: Int, rotations: Int, contrasts: Int) {
        self.flips = flips; self.rotations = rotations; self.contrasts = contrasts
    }
    public var total: Int { flips + rotations + contrasts }
}

/// Per-class augmentation multipliers (paper §3.2, §4.1–4.2), seeded and reproducible.
public struct AugmentationPolicy: Sendable, Hashable {
    /// Counts per class name (compared lowercased).
    public var perClass: [String: AugmentationCounts]
    /// Counts for a class not in `perClass`.
    public var defaultCounts: AugmentationCounts
    /// Rotation angles, degrees (paper: [−30, 30]).
    public var rotationRange: ClosedRange<Double>
    /// Contrast multipliers (paper: [0.22, 2.2]).
    public var contrastRange: ClosedRange<Double>

    public init(perClass: [String: AugmentationCounts], defaultCounts: AugmentationCounts,
                rotationRange: ClosedRange<Double> = -30...30, contrastRange: ClosedRange<Double> = 0.22...2.2) {
        self.perClass = Dictionary(uniqueKeysWithValues: perClass.map { ($0.key.lowercased(), $0.value) })
        self.defaultCounts = defaultCounts
        self.rotationRange = rotationRange
        self.contrastRange = contrastRange
    }

    /// The paper's CK+ table (flip / rotation / contrast): contempt 1/7/4, fear 1/4/4, sadness 1/4/3,
    /// anger 1/2/1, happy 1/1/1, disgust 1/1/1, surprise 1/1/0.
    public static let ckPlus = AugmentationPolicy(perClass: [
        "contempt": .init(flips: 1, rotations: 7, contrasts: 4),
        "fear": .init(flips: 1, rotations: 4, contrasts: 4),
        "sadness": .init(flips: 1, rotations: 4, contrasts: 3),
        "anger": .init(flips: 1, rotations: 2, contrasts: 1),
        "happy": .init(flips: 1, rotations: 1, contrasts: 1),
        "disgust": .init(flips: 1, rotations: 1, contrasts: 1),
        "surprise": .init(flips: 1, rotations: 1, contrasts: 0),
    ], defaultCounts: .init(flips: 1, rotations: 1, contrasts: 1))

    /// Oulu-CASIA: 1 flip, 5 rotations, 2 contrast changes for every class.
    public static let ouluCASIA = AugmentationPolicy(perClass: [:], defaultCounts: .init(flips: 1, rotations: 5, contrasts: 2))

    /// No augmentation.
    public static let none = AugmentationPolicy(perClass: [:], defaultCounts: .init(flips: 0, rotations: 0, contrasts: 0))

    public func counts(forClass label: String) -> AugmentationCounts {
        perClass[label.lowercased()] ?? defaultCounts
    }

    /// The augmentations of one sample: flips, then rotations, then contrast changes, parameters drawn from
    /// `rng`.
    public func augmentations(forClass label: String, using rng: inout SplitMix64) -> [Augmentation] {
        let c = counts(forClass: label)
        var out: [Augmentation] = Array(repeating: .flip, count: c.flips)
        for _ in 0..<c.rotations { out.append(.rotation(degrees: rng.uniform(rotationRange))) }
        for _ in 0..<c.contrasts { out.append(.contrast(alpha: rng.uniform(contrastRange))) }
        return out
    }

    /// Reproducible augmentations of sample `index` under `seed` (independent of the order samples are seen).
    public func augmentations(forClass label: String, seed: UInt64, sampleIndex: Int) -> [Augmentation] {
        var mix = SplitMix64(seed: seed ^ (UInt64(truncatingIfNeeded: sampleIndex) &* 0xD1B5_4A32_D192_ED03))
        var rng = SplitMix64(seed: mix.next())
        return augmentations(forClass: label, using: &rng)
    }
}
