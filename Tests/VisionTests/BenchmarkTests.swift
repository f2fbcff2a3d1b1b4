import Foundation
import Testing
@testable import Vision

/// Throughput of the preprocessing. Runs only with VISION_BENCH=1 (Tools/vision_bench.sh); otherwise one quick run.
@Suite struct BenchmarkTests {
    @Test func preprocessingThroughput() throws {
        let env = ProcessInfo.processInfo.environment
        let path = env["VISION_BENCH_INPUT"] ?? fixture("media/face_h264.mp4")
        let reps = env["VISION_BENCH"] == "1" ? Int(env["VISION_BENCH_REPS"] ?? "20") ?? 20 : 1
        for parallel in [false, true] {
            let b = ClipBuilder(detector: try CascadeFaceDetector(),
                                options: ClipOptions(clahe: CLAHE(), parallelFrames: parallel))
            let r = try benchmarkPreprocessing(path: path, builder: b, repetitions: reps)
            print("VISION_BENCH \(r)")
            #expect(r.clipFramesPerSecond > 0)
        }
    }
}
