import Foundation

/// Optuna's trial states. `waiting`: enqueued (fixed or re-queued parameters), claimed by the next ask.
public enum TrialState: String, Sendable, Codable, CaseIterable {
    case running, complete, pruned, failed, waiting

    public var isFinished: Bool { self == .complete || self == .pruned || self == .failed }
}

public enum StudyDirection: String, Sendable, Codable {
    case minimize, maximize

    /// True when `a` is strictly better than `b`.
    public func isBetter(_ a: Double, than b: Double) -> Bool { self == .minimize ? a < b : a > b }
}

/// A snapshot of one trial as stored.
public struct FrozenTrial: Sendable, Codable {
    /// The storage's row id (unique across studies).
    public var id: Int64
    /// 0, 1, 2, … within the study: unique and dense.
    public var number: Int
    public var state: TrialState
    /// The parameters (all of the study's search space, once the trial has been claimed).
    public var params: [String: ParameterValue]
    /// The objective value of a complete trial.
    public var value: Double?
    /// Reported intermediate values by step (NaN allowed).
    public var intermediateValues: [Int: Double]
    /// Optional upper (maximize) or lower (minimize) bounds of the final value reported with the
    /// intermediate values (see `Trial.report`), used by `PrunerConfig.unreachable`.
    public var intermediateBounds: [Int: Double]
    /// Seconds since 1970 (storage clock).
    public var startedAt: Double?
    public var completedAt: Double?
    public var heartbeatAt: Double?
    /// The worker that claimed the trial (host:pid).
    public var worker: String?
    /// Why a trial failed (the error, "NaN objective value", "heartbeat lost …").
    public var failReason: String?
    /// For a re-queued trial: the number of the failed trial it repeats.
    public var retriedFrom: Int?
    /// User attributes (report paths, checkpoint, …). Loaded only when asked for.
    public var userAttributes: [String: JSONValue]

    /// The last reported step and its value.
    public var lastStep: (step: Int, value: Double)? {
        guard let s = intermediateValues.keys.max() else { return nil }
        return (s, intermediateValues[s]!)
    }

    public var duration: Double? {
        guard let a = startedAt, let b = completedAt else { return nil }
        return b - a
    }
}
