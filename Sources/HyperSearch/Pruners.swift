import Foundation

/// When to stop a trial early, decided after each reported intermediate value. Stored with the study.
///
/// JSON: `{"type": "none"}`, `{"type": "threshold", "threshold": 0.965, "warmupSteps": 0}`,
/// `{"type": "unreachable", "threshold": 0.965, "totalSteps": 10, "bestStepValue": 1}`,
/// `{"type": "median", "startupTrials": 5, "warmupSteps": 0, "intervalSteps": 1, "minTrials": 1}`.
public enum PrunerConfig: Sendable, Hashable, Codable {
    /// Never prune (Optuna's `NopPruner`).
    case none
    /// Prune once the running value is worse than `threshold` (below it when maximising, above when minimising)
    /// or NaN, after `warmupSteps` steps (Optuna's `ThresholdPruner` with one bound).
    case threshold(threshold: Double, warmupSteps: Int)
    /// The paper's rule: prune once the final value can no longer reach `threshold`. The best reachable final
    /// value is the bound reported with the intermediate value (`Trial.report(_:step:bound:)`) when there is
    /// one; otherwise, with `totalSteps` known and the final value the mean of equally weighted steps whose
    /// best possible value is `bestStepValue`, it is `(v·(s+1) + best·(total − s − 1)) / total` for the
    /// running mean `v` after step `s` (0-based); otherwise the running value itself.
    case unreachable(threshold: Double, totalSteps: Int?, bestStepValue: Double)
    /// Prune when the trial's best intermediate value so far is worse than the median of the completed
    /// trials' values at the same step (Optuna's `MedianPruner`).
    case median(startupTrials: Int, warmupSteps: Int, intervalSteps: Int, minTrials: Int)

    private enum K: String, CodingKey {
        case type, threshold, warmupSteps, totalSteps, bestStepValue, startupTrials, intervalSteps, minTrials
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: K.self)
        switch try c.decode(String.self, forKey: .type) {
        case "none": self = .none
        case "threshold":
            self = .threshold(
                threshold: try c.decode(Double.self, forKey: .threshold),
                warmupSteps: try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? 0)
        case "unreachable":
            self = .unreachable(
                threshold: try c.decode(Double.self, forKey: .threshold),
                totalSteps: try c.decodeIfPresent(Int.self, forKey: .totalSteps),
                bestStepValue: try c.decodeIfPresent(Double.self, forKey: .bestStepValue) ?? 1)
        case "median":
            self = .median(
                startupTrials: try c.decodeIfPresent(Int.self, forKey: .startupTrials) ?? 5,
                warmupSteps: try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? 0,
                intervalSteps: try c.decodeIfPresent(Int.self, forKey: .intervalSteps) ?? 1,
                minTrials: try c.decodeIfPresent(Int.self, forKey: .minTrials) ?? 1)
        case let t:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: c, debugDescription: "unknown pruner '\(t)' (none, threshold, unreachable, median)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: K.self)
        switch self {
        case .none: try c.encode("none", forKey: .type)
        case .threshold(let t, let w):
            try c.encode("threshold", forKey: .type)
            try c.encode(t, forKey: .threshold)
            try c.encode(w, forKey: .warmupSteps)
        case .unreachable(let t, let total, let best):
            try c.encode("unreachable", forKey: .type)
            try c.encode(t, forKey: .threshold)
            try c.encodeIfPresent(total, forKey: .totalSteps)
            try c.encode(best, forKey: .bestStepValue)
        case .median(let s, let w, let i, let m):
            try c.encode("median", forKey: .type)
            try c.encode(s, forKey: .startupTrials)
            try c.encode(w, forKey: .warmupSteps)
            try c.encode(i, forKey: .intervalSteps)
            try c.encode(m, forKey: .minTrials)
        }
    }

    /// The paper's pruning: trials that cannot reach 96.5 % LOSO accuracy stop.
    public static let paper = PrunerConfig.unreachable(threshold: 0.965, totalSteps: nil, bestStepValue: 1)

    /// Whether `trial` (running, with its intermediate values) should stop now.
    /// - Parameter trials: the study's other trials (only complete ones are used, by the median pruner).
    public func shouldPrune(_ trial: FrozenTrial, trials: [FrozenTrial], direction: StudyDirection) -> Bool {
        guard let (step, value) = trial.lastStep else { return false }
        switch self {
        case .none:
            return false
        case .threshold(let threshold, let warmup):
            if step < warmup { return false }
            return value.isNaN || direction.isBetter(threshold, than: value)
        case .unreachable(let threshold, let total, let best):
            if value.isNaN { return true }
            let bound: Double
            if let b = trial.intermediateBounds[step] {
                bound = b
            } else if let total, total > 0 {
                let s = Double(min(step + 1, total))
                bound = (value * s + best * (Double(total) - s)) / Double(total)
            } else {
                bound = value
            }
            return direction.isBetter(threshold, than: bound)
        case .median(let startup, let warmup, let interval, let minTrials):
            let complete = trials.filter { $0.state == .complete }
            if complete.isEmpty || complete.count < startup { return false }
            if step < warmup { return false }
            if interval > 1 && (step - warmup) % interval != 0 { return false }
            let own = trial.intermediateValues.values.filter { !$0.isNaN }
            guard !own.isEmpty else { return true }
            let bestSoFar = direction == .minimize ? own.min()! : own.max()!
            let others = complete.compactMap { $0.intermediateValues[step] }.filter { !$0.isNaN }.sorted()
            if others.isEmpty || others.count < minTrials { return false }
            let m = others.count
            let median = m % 2 == 1 ? others[m / 2] : 0.5 * (others[m / 2 - 1] + others[m / 2])
            return direction.isBetter(median, than: bestSoFar)
        }
    }
}
