import Foundation

/// Synthetic objectives for testing samplers and for `emotion3d study optimize --objective …`.
public enum BenchmarkFunction: String, Sendable, CaseIterable {
    /// Branin–Hoo on x1 ∈ [−5, 10], x2 ∈ [0, 15]; minimum 0.397887 (minimise).
    case branin
    /// Hartmann-6 on [0, 1]⁶; minimum −3.32237 (minimise).
    case hartmann6

    public var space: SearchSpace {
        switch self {
        case .branin:
            return try! SearchSpace([
                Parameter("x1", .float(low: -5, high: 10)), Parameter("x2", .float(low: 0, high: 15)),
            ])
        case .hartmann6:
            return try! SearchSpace((1...6).map { Parameter("x\($0)", .float(low: 0, high: 1)) })
        }
    }

    public var minimum: Double { self == .branin ? 0.397887 : -3.32237 }

    public func callAsFunction(_ p: [String: ParameterValue]) -> Double {
        switch self {
        case .branin: return Self.branin(p["x1"]!.doubleValue!, p["x2"]!.doubleValue!)
        case .hartmann6: return Self.hartmann6((1...6).map { p["x\($0)"]!.doubleValue! })
        }
    }

    public static func branin(_ x1: Double, _ x2: Double) -> Double {
        let b = 5.1 / (4 * Double.pi * Double.pi), c = 5 / Double.pi, t = 1 / (8 * Double.pi)
        let u = x2 - b * x1 * x1 + c * x1 - 6
        return u * u + 10 * (1 - t) * cos(x1) + 10
    }

    public static func hartmann6(_ x: [Double]) -> Double {
        let alpha = [1.0, 1.2, 3.0, 3.2]
        let a: [[Double]] = [
            [10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14],
        ]
        let p: [[Double]] = [
            [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886], [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
            [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650], [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
        ]
        var s = 0.0
        for i in 0..<4 {
            var e = 0.0
            for j in 0..<6 { e += a[i][j] * (x[j] - p[i][j]) * (x[j] - p[i][j]) }
            s += alpha[i] * exp(-e)
        }
        return -s
    }
}

/// Runs a sampler sequentially in memory (no storage): for benchmarks and tests.
/// Returns the trials in order (all complete).
public func runInMemory(
    sampler: any Sampler, space: SearchSpace, trials n: Int, direction: StudyDirection = .minimize,
    objective: ([String: ParameterValue]) -> Double
) -> [FrozenTrial] {
    var trials: [FrozenTrial] = []
    trials.reserveCapacity(n)
    for k in 0..<n {
        let params = sampler.sample(space: space, trials: trials, number: k, direction: direction)
        let v = objective(params)
        trials.append(
            FrozenTrial(
                id: Int64(k), number: k, state: .complete, params: params, value: v, intermediateValues: [:],
                intermediateBounds: [:], startedAt: nil, completedAt: nil, heartbeatAt: nil, worker: nil,
                failReason: nil, retriedFrom: nil, userAttributes: [:]))
    }
    return trials
}
