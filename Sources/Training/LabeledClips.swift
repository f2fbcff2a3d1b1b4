import Layers

/// How 8-bit pixels become network inputs (the paper's "normalisation" option).
public enum PixelRange: String, Sendable, Codable, CaseIterable {
    /// v / 255 ∈ [0, 1].
    case unit
    /// v / 127.5 − 1 ∈ [−1, 1].
    case symmetric
}

/// Labelled clips in memory, as 8-bit pixels: what the trainer and the evaluation protocols consume.
/// The prepared-clip cache (HDF5) loads into this; augmentation appends clips to a training subset.
public struct LabeledClips: Sendable {
    /// Shape of one clip, `[C, D, H, W]`.
    public var clipShape: Shape
    /// `count × clipShape.count` pixels, clip after clip, each `[C, D, H, W]` row-major.
    public var pixels: [UInt8]
    /// Class index of each clip, in `0..<classNames.count`.
    public var labels: [Int]
    public var classNames: [String]
    /// Subject of each clip (folds never split a subject).
    public var subjects: [String]
    /// Identifier of each clip's source sequence (e.g. `S005/001`).
    public var sequenceIDs: [String]

    public init(clipShape: Shape, pixels: [UInt8], labels: [Int], classNames: [String], subjects: [String], sequenceIDs: [String]) throws {
        let count = labels.count
        guard clipShape.rank == 4, pixels.count == count * clipShape.count else {
            throw TrainingError.invalidData("expected \(count) clips of shape \(clipShape) (\(count * clipShape.count) pixels), got \(pixels.count) pixels")
        }
        guard subjects.count == count, sequenceIDs.count == count else {
            throw TrainingError.invalidData("\(count) labels but \(subjects.count) subjects and \(sequenceIDs.count) sequence ids")
        }
        if let bad = labels.firstIndex(where: { !(0..<classNames.count).contains($0) }) {
            throw TrainingError.invalidData("clip \(bad) (\(sequenceIDs[bad])) has label \(labels[bad]); expected 0..<\(classNames.count) (\(classNames.joined(separator: ", ")))")
        }
        self.clipShape = clipShape
        self.pixels = pixels
        self.labels = labels
        self.classNames = classNames
        self.subjects = subjects
        self.sequenceIDs = sequenceIDs
    }

    public var count: Int { labels.count }

    /// The clips at `indices`, as one new set.
    public func subset(_ indices: [Int]) -> LabeledClips {
        let size = clipShape.count
        var pixels = [UInt8]()
        pixels.reserveCapacity(indices.count * size)
        for index in indices { pixels += self.pixels[(index * size)..<((index + 1) * size)] }
        return try! LabeledClips(
            clipShape: clipShape, pixels: pixels, labels: indices.map { labels[$0] }, classNames: classNames,
            subjects: indices.map { subjects[$0] }, sequenceIDs: indices.map { sequenceIDs[$0] })
    }

    /// The clips at `indices` as a network input `[n, C, D, H, W]` in `range`.
    public func batch(_ indices: [Int], range: PixelRange) -> Tensor<Float> {
        let size = clipShape.count
        let (scale, offset): (Float, Float) = range == .unit ? (1 / 255, 0) : (1 / 127.5, -1)
        var values = [Float](repeating: 0, count: indices.count * size)
        pixels.withUnsafeBufferPointer { source in
            for (slot, index) in indices.enumerated() {
                let from = index * size, to = slot * size
                for k in 0..<size { values[to + k] = Float(source[from + k]) * scale + offset }
            }
        }
        return Tensor(shape: Shape([indices.count] + clipShape.dims), scalars: values)
    }

    /// Per-class counts.
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classNames.count)
        for label in labels { counts[label] += 1 }
        return counts
    }
}

/// Training could not start or had to stop; says why and where.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case invalidData(String)
    case diverged(epoch: Int, batch: Int, loss: Float)
    case invalid(String)

    public var description: String {
        switch self {
        case let .invalidData(message): "invalid training data: \(message)"
        case let .diverged(epoch, batch, loss): "the loss became \(loss) at epoch \(epoch), batch \(batch); lower the learning rate or check the data"
        case let .invalid(message): message
        }
    }
}
