import Foundation

/// Thrown by an objective (or `Trial.pruneIfNeeded()`) to stop a trial early: it is recorded as pruned.
public struct TrialPruned: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String = "pruned") { self.description = description }
}

/// A study: a search space, a sampler, a pruner and the trials, in a storage. Several `Study` objects in
/// any number of processes and machines may work on the same stored study.
///
/// ```swift
/// let study = try Study.create(name: "ckplus", storage: "sqlite:///ckplus.db", direction: .maximize,
///                              space: .paperTable1, sampler: .tpe(seed: 1), pruner: .paper)
/// try study.optimize(trials: 100) { trial in
///     let act = trial.string("activation")           // "relu", …
///     for fold in 0..<folds {
///         …
///         try trial.report(runningAccuracy, step: fold, bound: bestReachableAccuracy)
///         try trial.pruneIfNeeded()                    // throws TrialPruned
///     }
///     try trial.setUserAttribute("report", .string(reportPath))
///     return accuracy
/// }
/// print(try study.bestTrial()?.params ?? [:])
/// ```
public final class Study: @unchecked Sendable {
    public let storage: Storage
    public private(set) var record: StudyRecord
    let sampler: any Sampler
    let storageURL: String
    /// host:pid, recorded with each claimed trial.
    public let workerName: String

    public var name: String { record.name }
    public var direction: StudyDirection { record.direction }
    public var space: SearchSpace { record.space }

    init(storage: Storage, url: String, record: StudyRecord) {
        self.storage = storage
        self.storageURL = url
        self.record = record
        self.sampler = record.sampler.makeSampler()
        self.workerName = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// Creates the study, or loads it if it exists (`loadIfExists`, the default: then the stored definition —
    /// space, sampler, pruner, options — is used, so workers may all call `create`).
    public static func create(
        name: String, storage url: String, direction: StudyDirection = .maximize, space: SearchSpace,
        sampler: SamplerConfig = .tpe(), pruner: PrunerConfig = .none, options: StudyOptions = StudyOptions(),
        loadIfExists: Bool = true
    ) throws -> Study {
        let storage = try Storage(url: url)
        let record = try storage.createStudy(
            name: name, direction: direction, space: space, sampler: sampler, pruner: pruner, options: options,
            loadIfExists: loadIfExists)
        return Study(storage: storage, url: url, record: record)
    }

    /// Opens a stored study.
    public static func load(name: String, storage url: String) throws -> Study {
        let storage = try Storage(url: url)
        return Study(storage: storage, url: url, record: try storage.loadStudy(name: name))
    }

    /// All trials, ordered by number.
    public func trials(attributes: Bool = true) throws -> [FrozenTrial] {
        try storage.trials(study: record, attributes: attributes)
    }

    /// The complete trial with the best value (ties: the lowest number).
    public func bestTrial() throws -> FrozenTrial? {
        var best: FrozenTrial?
        for t in try trials() where t.state == .complete {
            guard let v = t.value, !v.isNaN else { continue }
            if let b = best, !direction.isBetter(v, than: b.value!) { continue }
            best = t
        }
        return best
    }

    /// Claims a new trial (or a waiting one) with all its parameters sampled. Optuna's `study.ask()`.
    /// - Parameter heartbeat: whether the trial expects heartbeats (set by `optimize`; ask/tell users
    ///   without a heartbeat loop leave it false, so the trial never goes stale).
    public func ask(heartbeat: Bool = false) throws -> Trial {
        let sampler = self.sampler
        let record = self.record
        let frozen = try storage.claimTrial(study: record, worker: workerName, heartbeat: heartbeat) { trials, number in
            sampler.sample(space: record.space, trials: trials, number: number, direction: record.direction)
        }
        return Trial(study: self, frozen: frozen)
    }

    /// Finishes a trial (Optuna's `study.tell`). A NaN value makes it failed.
    public func tell(_ number: Int, value: Double) throws {
        if value.isNaN {
            try storage.finish(study: record, number: number, state: .failed, value: nil, reason: "objective returned NaN")
        } else {
            try storage.finish(study: record, number: number, state: .complete, value: value, reason: nil)
        }
    }

    public func tell(_ number: Int, state: TrialState, value: Double? = nil, reason: String? = nil) throws {
        if state == .complete, let v = value { return try tell(number, value: v) }
        try storage.finish(study: record, number: number, state: state, value: value, reason: reason)
    }

    /// Adds a waiting trial with fixed parameters (Optuna's `enqueue_trial`); the next ask claims it.
    @discardableResult
    public func enqueue(_ params: [String: ParameterValue]) throws -> Int {
        try storage.enqueue(study: record, params: params)
    }

    public struct Summary: Sendable {
        public var complete = 0, pruned = 0, failed = 0
        public var total: Int { complete + pruned + failed }
    }

    /// Runs `trials` trials (at most; fewer if the study reaches `studyTrials` finished — complete or pruned —
    /// trials, or `timeout` seconds pass), one after the other, with a heartbeat thread.
    ///
    /// The objective returns the trial's value; `throw TrialPruned()` prunes; any other error, or NaN, makes the
    /// trial failed with the error's description as reason, and the loop goes on (Optuna's `catch=(Exception,)`).
    @discardableResult
    public func optimize(
        trials: Int, studyTrials: Int? = nil, timeout: Double? = nil, objective: (Trial) throws -> Double
    ) throws -> Summary {
        var summary = Summary()
        let start = Date()
        for _ in 0..<trials {
            if let timeout, Date().timeIntervalSince(start) >= timeout { break }
            if let studyTrials {
                let all = try self.trials(attributes: false), now = Date().timeIntervalSince1970
                let done = all.filter { $0.state == .complete || $0.state == .pruned }.count
                // Other workers' live trials count too, so that parallel workers stop at the target instead of
                // each starting one more; a running trial whose heartbeat is older than the grace period is not live.
                let live = all.filter { $0.state == .running && ($0.heartbeatAt.map { now - $0 < record.options.gracePeriod } ?? true) }.count
                if done + live >= studyTrials { break }
            }
            let hb = record.options.heartbeatInterval > 0
            let trial = try ask(heartbeat: hb)
            let beat = hb ? try HeartbeatLoop(url: storageURL, trialID: trial.id, interval: record.options.heartbeatInterval) : nil
            defer { beat?.stop() }
            let state: TrialState, value: Double?, reason: String?
            do {
                let v = try objective(trial)
                if v.isNaN {
                    (state, value, reason) = (.failed, nil, "objective returned NaN")
                } else {
                    (state, value, reason) = (.complete, v, nil)
                }
            } catch is TrialPruned {
                (state, value, reason) = (.pruned, nil, nil)
            } catch {
                (state, value, reason) = (.failed, nil, "\(type(of: error)): \(error)")
            }
            beat?.stop()
            do {
                try storage.finish(study: record, number: trial.number, state: state, value: value, reason: reason)
            } catch let error as StorageError {
                // Another worker failed it meanwhile (heartbeat lost, e.g. the machine stalled past the grace
                // period): its re-queued copy runs again; this worker goes on.
                guard let now = try? storage.trial(study: record, number: trial.number), now.state != .running else {
                    throw error
                }
                FileHandle.standardError.write(Data("warning: \(error)\n".utf8))
                summary.failed += 1
                continue
            }
            switch state {
            case .complete: summary.complete += 1
            case .pruned: summary.pruned += 1
            default: summary.failed += 1
            }
        }
        return summary
    }
}

/// A running trial, handed to the objective.
public final class Trial: @unchecked Sendable {
    public unowned let study: Study
    public let id: Int64
    public let number: Int
    /// Every parameter of the study's search space.
    public let params: [String: ParameterValue]
    private var values: [Int: Double] = [:]
    private var bounds: [Int: Double] = [:]

    init(study: Study, frozen: FrozenTrial) {
        self.study = study
        self.id = frozen.id
        self.number = frozen.number
        self.params = frozen.params
        self.values = frozen.intermediateValues
    }

    public subscript(name: String) -> ParameterValue? { params[name] }
    public func string(_ name: String) -> String? { params[name]?.stringValue }
    public func bool(_ name: String) -> Bool? { params[name]?.boolValue }
    public func int(_ name: String) -> Int? { params[name]?.intValue }
    public func double(_ name: String) -> Double? { params[name]?.doubleValue }

    /// Stores the running value after `step` (e.g. the running accuracy after fold `step`, 0-based).
    /// - Parameter bound: optionally, the best final value still reachable (e.g. the accuracy if every
    ///   remaining clip were right), used by the `unreachable` pruner.
    public func report(_ value: Double, step: Int, bound: Double? = nil) throws {
        try study.storage.report(study: study.record, number: number, step: step, value: value, bound: bound)
        values[step] = value
        if let bound { bounds[step] = bound }
    }

    /// The study's pruner's decision for the values reported so far.
    public func shouldPrune() throws -> Bool {
        let pruner = study.record.pruner
        if case .none = pruner { return false }
        var me = FrozenTrial(
            id: id, number: number, state: .running, params: params, value: nil, intermediateValues: values,
            intermediateBounds: bounds, startedAt: nil, completedAt: nil, heartbeatAt: nil, worker: nil, failReason: nil,
            retriedFrom: nil, userAttributes: [:])
        me.intermediateBounds = bounds
        let others: [FrozenTrial]
        if case .median = pruner { others = try study.trials(attributes: false) } else { others = [] }
        return pruner.shouldPrune(me, trials: others, direction: study.direction)
    }

    /// Throws `TrialPruned` when `shouldPrune()`.
    public func pruneIfNeeded() throws {
        if try shouldPrune() {
            let last = values.keys.max().map { "step \($0): \(values[$0]!)" } ?? ""
            throw TrialPruned("pruned at \(last)")
        }
    }

    /// Stores a user attribute (report path, checkpoint, …) on the trial.
    public func setUserAttribute(_ key: String, _ value: JSONValue) throws {
        try study.storage.setTrialAttribute(study: study.record, number: number, key: key, value: value)
    }
}

/// Updates a trial's heartbeat from its own thread and connection.
final class HeartbeatLoop: @unchecked Sendable {
    private let condition = NSCondition()
    private var stopped = false
    private var thread: Thread?

    init(url: String, trialID: Int64, interval: Double) throws {
        let storage = try Storage(url: url)
        let t = Thread { [self] in
            while true {
                condition.lock()
                if !stopped { _ = condition.wait(until: Date().addingTimeInterval(interval)) }
                let done = stopped
                condition.unlock()
                if done { break }
                _ = try? storage.heartbeat(trialID: trialID)
            }
        }
        thread = t
        t.start()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }
}
