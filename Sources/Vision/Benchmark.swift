import Foundation

/// Throughput of the full preprocessing of one sequence (decode, detect per frame, track, crop, resize, CLAHE).
public struct PreprocessingBenchmark: Sendable, CustomStringConvertible {
    public var path: String
    public var repetitions: Int
    /// Frames decoded per run (the whole sequence: frame counts come from decoding).
    public var decodedFramesPerRun: Int
    /// Clip frames produced per run (the clip length).
    public var clipFramesPerRun: Int
    /// Wall-clock seconds of all repetitions (after one warm-up run).
    public var seconds: Double
    /// Threads the detection used (frames in parallel).
    public var threads: Int

    public var sequencesPerSecond: Double { Double(repetitions) / seconds }
    /// Clip frames per second (each went through detection, crop, resize, CLAHE).
    public var clipFramesPerSecond: Double { sequencesPerSecond * Double(clipFramesPerRun) }
    /// Decoded frames per second.
    public var decodedFramesPerSecond: Double { sequencesPerSecond * Double(decodedFramesPerRun) }

    public var description: String {
        String(format: "swift: %d runs of %@: %.2f ms/sequence, %.1f clip frames/s, %.1f decoded frames/s (%d threads)",
               repetitions, (path as NSString).lastPathComponent, 1000 * seconds / Double(repetitions),
               clipFramesPerSecond, decodedFramesPerSecond, threads)
    }
}

/// Times `builder.build(path:)` on `path`, `repetitions` times after one warm-up run.
public func benchmarkPreprocessing(path: String, builder: ClipBuilder, repetitions: Int = 10) throws -> PreprocessingBenchmark {
    let warm = try builder.build(path: path)
    let start = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<repetitions { _ = try builder.build(path: path) }
    let s = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    return PreprocessingBenchmark(path: path, repetitions: repetitions, decodedFramesPerRun: warm.sourceFrameCount,
                                  clipFramesPerRun: warm.frames.count, seconds: s,
                                  threads: builder.options.parallelFrames ? ProcessInfo.processInfo.activeProcessorCount : 1)
}
