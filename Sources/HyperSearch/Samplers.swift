import Foundation

/// Chooses the parameters of a new trial from the study's history.
public protocol Sampler: Sendable {
    /// - Parameters:
    ///   - trials: every other trial of the study, any state, ordered by number.
    ///   - number: the new trial's number.
    /// - Returns: a value for every parameter of `space`.
    func sample(space: SearchSpace, trials: [FrozenTrial], number: Int, direction: StudyDirection)
        -> [String: ParameterValue]
}

/// A sampler's settings, stored with the study so that every worker samples alike.
/// JSON: `{"type": "tpe", "seed": 1, …}` or `{"type": "random", "seed": 1}`.
public struct SamplerConfig: Sendable, Codable, Hashable {
    public enum Kind: String, Sendable, Codable { case tpe, random }
    public var type: Kind
    /// nil: a random seed chosen at study creation (then stored, so the study is still reproducible).
    public var seed: UInt64?
    public var startupTrials: Int
    public var candidates: Int
    public var multivariate: Bool
    public var constantLiar: Bool
    public var priorWeight: Double
    public var considerMagicClip: Bool
    public var considerEndpoints: Bool

    /// Optuna 5's `TPESampler()` defaults: 10 start-up trials, 24 candidates, multivariate, constant liar.
    public static func tpe(
        seed: UInt64? = nil, startupTrials: Int = 10, candidates: Int = 24, multivariate: Bool = true,
        constantLiar: Bool = true
    ) -> SamplerConfig {
        SamplerConfig(
            type: .tpe, seed: seed, startupTrials: startupTrials, candidates: candidates,
            multivariate: multivariate, constantLiar: constantLiar, priorWeight: 1, considerMagicClip: true,
            considerEndpoints: false)
    }

    public static func random(seed: UInt64? = nil) -> SamplerConfig {
        var c = tpe(seed: seed)
        c.type = .random
        return c
    }

    public init(
        type: Kind, seed: UInt64?, startupTrials: Int, candidates: Int, multivariate: Bool, constantLiar: Bool,
        priorWeight: Double, considerMagicClip: Bool, considerEndpoints: Bool
    ) {
        self.type = type
        self.seed = seed
        self.startupTrials = startupTrials
        self.candidates = candidates
        self.multivariate = multivariate
        self.constantLiar = constantLiar
        self.priorWeight = priorWeight
        self.considerMagicClip = considerMagicClip
        self.considerEndpoints = considerEndpoints
    }

    public init(from decoder: Decoder) throws {
        enum K: String, CodingKey {
            case type, seed, startupTrials, candidates, multivariate, constantLiar, priorWeight, considerMagicClip,
                considerEndpoints
        }
        let c = try decoder.container(keyedBy: K.self)
        var d = SamplerConfig.tpe()
        d.type = try c.decodeIfPresent(Kind.self, forKey: .type) ?? .tpe
        d.seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
        d.startupTrials = try c.decodeIfPresent(Int.self, forKey: .startupTrials) ?? d.startupTrials
        d.candidates = try c.decodeIfPresent(Int.self, forKey: .candidates) ?? d.candidates
        d.multivariate = try c.decodeIfPresent(Bool.self, forKey: .multivariate) ?? d.multivariate
        d.constantLiar = try c.decodeIfPresent(Bool.self, forKey: .constantLiar) ?? d.constantLiar
        d.priorWeight = try c.decodeIfPresent(Double.self, forKey: .priorWeight) ?? d.priorWeight
        d.considerMagicClip = try c.decodeIfPresent(Bool.self, forKey: .considerMagicClip) ?? d.considerMagicClip
        d.considerEndpoints = try c.decodeIfPresent(Bool.self, forKey: .considerEndpoints) ?? d.considerEndpoints
        self = d
    }

    public func makeSampler() -> any Sampler {
        let s = seed ?? UInt64.random(in: 0...UInt64.max)
        switch type {
        case .random: return RandomSampler(seed: s)
        case .tpe:
            return TPESampler(
                seed: s, startupTrials: startupTrials, candidates: candidates, multivariate: multivariate,
                constantLiar: constantLiar, priorWeight: priorWeight, considerMagicClip: considerMagicClip,
                considerEndpoints: considerEndpoints)
        }
    }
}

/// Independent uniform sampling (Optuna's `RandomSampler`): floats uniform (in log space if log), stepped and
/// integer parameters uniform over their grid, categoricals uniform over the choices.
public struct RandomSampler: Sampler {
    public let seed: UInt64
    public init(seed: UInt64) { self.seed = seed }

    public func sample(space: SearchSpace, trials: [FrozenTrial], number: Int, direction: StudyDirection)
        -> [String: ParameterValue]
    {
        var rng = Xoshiro256(seed: seed, stream: UInt64(number))
        var out: [String: ParameterValue] = [:]
        for p in space.parameters { out[p.name] = p.distribution.externalValue(Self.draw(p.distribution, &rng)) }
        return out
    }

    static func draw(_ d: Distribution, _ rng: inout Xoshiro256) -> Double {
        switch d {
        case .categorical(let c):
            return Double(min(Int(rng.uniform() * Double(c.count)), c.count - 1))
        case .int(let low, let high, let step, let isLog):
            if isLog {
                let a = log(Double(low) - 0.5), b = log(Double(high) + 0.5)
                return min(max(exp(a + (b - a) * rng.uniform()).rounded(), Double(low)), Double(high))
            }
            let k = (high - low) / step
            return Double(low + step * min(Int(rng.uniform() * Double(k + 1)), k))
        case .float(let low, let high, let step, let isLog):
            if let step {
                let k = Int(((high - low) / step).rounded())
                return low + step * Double(min(Int(rng.uniform() * Double(k + 1)), k))
            }
            if isLog { return exp(log(low) + (log(high) - log(low)) * rng.uniform()) }
            return low + (high - low) * rng.uniform()
        }
    }
}

/// Optuna 5's `TPESampler` (tree-structured Parzen estimator), single objective.
///
/// - Start-up: random sampling until `startupTrials` trials are complete or pruned.
/// - Split: the γ(n) = min(⌈0.1 n⌉, 25) best complete trials form l(x) (n = complete + pruned trials); if
///   fewer have completed, the pruned trials fill l(x), ranked by last step (later is better), then by their
///   last intermediate value. Everything else, and with the constant liar the running trials, forms g(x).
/// - `ParzenEstimator` for l and g; `candidates` draws from l(x); the one maximising log l − log g wins.
/// - `multivariate`: one estimator of joint kernels over all parameters; otherwise one per parameter.
/// - `constantLiar`: running trials of other workers count in g(x), so parallel workers spread out.
/// - Seeded per trial: the draws of trial k depend on (seed, k) only.
public struct TPESampler: Sampler {
    public let seed: UInt64
    public let startupTrials: Int
    public let candidates: Int
    public let multivariate: Bool
    public let constantLiar: Bool
    public let priorWeight: Double
    public let considerMagicClip: Bool
    public let considerEndpoints: Bool

    public init(
        seed: UInt64, startupTrials: Int = 10, candidates: Int = 24, multivariate: Bool = true,
        constantLiar: Bool = true, priorWeight: Double = 1, considerMagicClip: Bool = true,
        considerEndpoints: Bool = false
    ) {
        self.seed = seed
        self.startupTrials = startupTrials
        self.candidates = max(1, candidates)
        self.multivariate = multivariate
        self.constantLiar = constantLiar
        self.priorWeight = priorWeight
        self.considerMagicClip = considerMagicClip
        self.considerEndpoints = considerEndpoints
    }

    /// Optuna's `default_gamma`.
    public static func gamma(_ n: Int) -> Int { min(Int((0.1 * Double(n)).rounded(.up)), 25) }

    /// Ranking key of a pruned trial: later steps first, then better last values; NaN last.
    static func prunedKey(_ t: FrozenTrial, _ direction: StudyDirection) -> (Double, Double) {
        guard let (step, v) = t.lastStep else { return (1, 0) }
        if v.isNaN { return (-Double(step), .infinity) }
        return (-Double(step), direction == .minimize ? v : -v)
    }

    /// Optuna's `_split_trials`: (below, above), each ordered by number.
    public static func split(_ trials: [FrozenTrial], nBelow: Int, direction: StudyDirection)
        -> (below: [FrozenTrial], above: [FrozenTrial])
    {
        var complete: [FrozenTrial] = [], pruned: [FrozenTrial] = [], running: [FrozenTrial] = []
        for t in trials {
            switch t.state {
            case .complete: complete.append(t)
            case .pruned: pruned.append(t)
            case .running: running.append(t)
            default: break
            }
        }
        // Stable sorts: ties keep number order.
        complete = complete.enumerated().sorted { a, b in
            let va = a.element.value ?? .nan, vb = b.element.value ?? .nan
            if va != vb { return direction == .minimize ? va < vb : va > vb }
            return a.offset < b.offset
        }.map(\.element)
        let nc = min(nBelow, complete.count)
        var below = Array(complete[..<nc])
        var above = Array(complete[nc...])
        let rest = max(0, nBelow - nc)
        pruned = pruned.enumerated().sorted { a, b in
            let ka = prunedKey(a.element, direction), kb = prunedKey(b.element, direction)
            if ka != kb { return ka < kb }
            return a.offset < b.offset
        }.map(\.element)
        let np = min(rest, pruned.count)
        below += pruned[..<np]
        above += pruned[np...]
        above += running
        below.sort { $0.number < $1.number }
        above.sort { $0.number < $1.number }
        return (below, above)
    }

    public func sample(space: SearchSpace, trials: [FrozenTrial], number: Int, direction: StudyDirection)
        -> [String: ParameterValue]
    {
        var rng = Xoshiro256(seed: seed, stream: UInt64(number))
        let finished = trials.filter { ($0.state == .complete || $0.state == .pruned) && $0.number != number }
        var out: [String: ParameterValue] = [:]
        if finished.count < startupTrials {
            for p in space.parameters { out[p.name] = p.distribution.externalValue(RandomSampler.draw(p.distribution, &rng)) }
            return out
        }
        let active = space.parameters.filter { !$0.distribution.isSingle }
        for p in space.parameters where p.distribution.isSingle {
            out[p.name] = p.distribution.externalValue(RandomSampler.draw(p.distribution, &rng))
        }
        if active.isEmpty { return out }
        let considered =
            constantLiar
            ? trials.filter { ($0.state == .complete || $0.state == .pruned || $0.state == .running) && $0.number != number }
            : finished
        let n = considered.reduce(0) { $0 + ($1.state == .running ? 0 : 1) }
        let (below, above) = Self.split(considered, nBelow: Self.gamma(n), direction: direction)
        let belowColumns = Self.rows(below, active), aboveColumns = Self.rows(above, active)
        let dists = active.map(\.distribution)
        if multivariate {
            let x = bestCandidate(belowColumns, aboveColumns, dists, &rng)
            for (j, p) in active.enumerated() { out[p.name] = p.distribution.externalValue(x[j]) }
        } else {
            for (j, p) in active.enumerated() {
                let x = bestCandidate([belowColumns[j]], [aboveColumns[j]], [dists[j]], &rng)
                out[p.name] = p.distribution.externalValue(x[0])
            }
        }
        return out
    }

    /// Per-parameter columns of internal values of the trials that have every parameter (a running trial may
    /// have none yet).
    static func rows(_ trials: [FrozenTrial], _ params: [Parameter]) -> [[Double]] {
        var columns = [[Double]](repeating: [], count: params.count)
        for j in columns.indices { columns[j].reserveCapacity(trials.count) }
        var row = [Double](repeating: 0, count: params.count)
        trial: for t in trials {
            for (j, p) in params.enumerated() {
                guard let v = t.params[p.name], let x = Self.internalValue(v, p.distribution) else { continue trial }
                row[j] = x
            }
            for j in row.indices { columns[j].append(row[j]) }
        }
        return columns
    }

    /// A fast, non-throwing `Distribution.internalValue`.
    @inline(__always) static func internalValue(_ v: ParameterValue, _ d: Distribution) -> Double? {
        switch d {
        case .categorical(let choices):
            for (i, c) in choices.enumerated() where c == v { return Double(i) }
            return (try? d.internalValue(v, name: "")) ?? nil
        case .int, .float:
            switch v {
            case .int(let i): return Double(i)
            case .double(let x): return x
            default: return nil
            }
        }
    }

    /// - Parameters: below, above: per-parameter columns of internal values.
    func bestCandidate(_ below: [[Double]], _ above: [[Double]], _ dists: [Distribution], _ rng: inout Xoshiro256)
        -> [Double]
    {
        let l = ParzenEstimator(
            columns: below, count: below.first?.count ?? 0, distributions: dists, priorWeight: priorWeight,
            considerMagicClip: considerMagicClip, considerEndpoints: considerEndpoints)
        let g = ParzenEstimator(
            columns: above, count: above.first?.count ?? 0, distributions: dists, priorWeight: priorWeight,
            considerMagicClip: considerMagicClip, considerEndpoints: considerEndpoints)
        let xs = l.sample(count: candidates, rng: &rng)
        let lb = l.logPDF(xs), la = g.logPDF(xs)
        var best = 0, bestScore = -Double.infinity
        for i in xs.indices {
            let s = lb[i] - la[i]
            if s > bestScore || (bestScore == -.infinity && i == 0) { best = i; bestScore = s }
        }
        return xs[best]
    }
}
