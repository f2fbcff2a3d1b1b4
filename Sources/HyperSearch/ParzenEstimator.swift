import Foundation

/// A mixture of product kernels over some parameters: Optuna 5's `_ParzenEstimator`.
///
/// One kernel per observation plus a prior kernel (centred on the range, bandwidth = the range, weight
/// `priorWeight`). Numerical parameters use Gaussians truncated to the range (in log space for log
/// parameters); stepped ones put the Gaussian's mass of each bin `[x − step/2, x + step/2]` on the grid
/// point. Bandwidths follow the neighbour rule (the larger gap to the sorted neighbours, the end points
/// using their inner gap) clipped to `[range / min(100, 1 + kernels), range]` (the "magic clip").
/// Categorical kernels put `1 + priorWeight/kernels` on the observed choice and `priorWeight/kernels` on the
/// others, normalised. Observation weights: `defaultWeights` (a ramp for old trials beyond the newest 25).
///
/// Densities are in the internal representation: categorical → choice index, log parameters → per unit of
/// log(x), stepped parameters → probability mass per grid point.
public struct ParzenEstimator: Sendable {
    enum Component: Sendable {
        /// Row-major `[kernels × choices]` probabilities and their logs.
        case categorical(probs: [Double], logProbs: [Double], choices: Int)
        /// Kernel centres and bandwidths in the transformed space (log for log parameters); `lower`/`upper`:
        /// the truncation bounds there; `step` 0 for continuous; `low`/`high`: the user range.
        case numerical(
            mus: [Double], sigmas: [Double], lower: Double, upper: Double, step: Double, log: Bool,
            low: Double, high: Double, logNorm: [Double])
    }

    let components: [Component]
    let logWeights: [Double]
    let weights: [Double]
    public var kernelCount: Int { weights.count }

    /// Optuna's `default_weights`: ones for the newest 25 observations, a linear ramp from 1/n for older ones.
    public static func defaultWeights(_ n: Int) -> [Double] {
        if n == 0 { return [] }
        if n < 25 { return [Double](repeating: 1, count: n) }
        let m = n - 25
        var w = [Double](repeating: 1, count: n)
        let start = 1.0 / Double(n)
        for i in 0..<m { w[i] = m == 1 ? start : start + (1 - start) * Double(i) / Double(m - 1) }
        return w
    }

    /// - Parameters:
    ///   - observations: one row per observation (oldest first), internal values in `distributions` order.
    ///   - distributions: the parameters' distributions (none may be single-valued).
    public init(
        observations: [[Double]], distributions: [Distribution], priorWeight: Double = 1.0,
        considerMagicClip: Bool = true, considerEndpoints: Bool = false
    ) {
        let columns = distributions.indices.map { j in observations.map { $0[j] } }
        self.init(
            columns: columns, count: observations.count, distributions: distributions, priorWeight: priorWeight,
            considerMagicClip: considerMagicClip, considerEndpoints: considerEndpoints)
    }

    /// The same from per-parameter columns of `count` observations each.
    public init(
        columns: [[Double]], count n: Int, distributions: [Distribution], priorWeight: Double = 1.0,
        considerMagicClip: Bool = true, considerEndpoints: Bool = false
    ) {
        var w = Self.defaultWeights(n)
        if n == 0 { w = [1] } else { w.append(priorWeight) }
        let total = w.reduce(0, +)
        weights = w.map { $0 / total }
        logWeights = weights.map { log($0) }
        var comps: [Component] = []
        for (j, dist) in distributions.enumerated() {
            comps.append(
                Self.component(
                    columns[j], dist, priorWeight: priorWeight, magicClip: considerMagicClip,
                    endpoints: considerEndpoints))
        }
        components = comps
    }

    static func component(
        _ obs: [Double], _ dist: Distribution, priorWeight: Double, magicClip: Bool, endpoints: Bool
    ) -> Component {
        switch dist {
        case .categorical(let choices):
            let c = choices.count
            if obs.isEmpty {
                let p = [Double](repeating: 1 / Double(c), count: c)
                return .categorical(probs: p, logProbs: p.map { log($0) }, choices: c)
            }
            // Observed rows: (prior/kernels + 1 at the observation) / (1 + c·prior/kernels); the prior row is uniform.
            let kernels = obs.count + 1
            let base = priorWeight / Double(kernels), rowSum = 1 + Double(c) * base
            let other = base / rowSum, hit = (base + 1) / rowSum
            let logOther = log(other), logHit = log(hit), uniform = 1 / Double(c), logUniform = log(uniform)
            var probs = [Double](repeating: other, count: kernels * c)
            var logProbs = [Double](repeating: logOther, count: kernels * c)
            for (i, x) in obs.enumerated() {
                probs[i * c + Int(x)] = hit
                logProbs[i * c + Int(x)] = logHit
            }
            for j in 0..<c {
                probs[obs.count * c + j] = uniform
                logProbs[obs.count * c + j] = logUniform
            }
            return .categorical(probs: probs, logProbs: logProbs, choices: c)
        case .int(let l, let h, let step, let isLog):
            return numerical(obs, Double(l), Double(h), Double(step), isLog, magicClip, endpoints)
        case .float(let l, let h, let step, let isLog):
            return numerical(obs, l, h, step ?? 0, isLog, magicClip, endpoints)
        }
    }

    static func numerical(
        _ obs: [Double], _ userLow: Double, _ userHigh: Double, _ step: Double, _ isLog: Bool,
        _ magicClip: Bool, _ endpoints: Bool
    ) -> Component {
        var low = userLow - step / 2, high = userHigh + step / 2
        var mus = obs
        if isLog {
            low = log(low); high = log(high)
            mus = mus.map { log($0) }
        }
        let n = mus.count
        var sigmas = [Double](repeating: 0, count: n)
        if n > 0 {
            let order = mus.indices.sorted { mus[$0] < mus[$1] || (mus[$0] == mus[$1] && $0 < $1) }
            var ends = [Double](repeating: 0, count: n + 2)
            ends[0] = low
            for (i, o) in order.enumerated() { ends[i + 1] = mus[o] }
            ends[n + 1] = high
            var sorted = [Double](repeating: 0, count: n)
            for i in 0..<n { sorted[i] = max(ends[i + 1] - ends[i], ends[i + 2] - ends[i + 1]) }
            if !endpoints && n + 2 >= 4 {
                sorted[0] = ends[2] - ends[1]
                sorted[n - 1] = ends[n] - ends[n - 1]
            }
            let maxSigma = high - low
            let minSigma = magicClip ? (high - low) / min(100, 1 + Double(n + 1)) : 1e-12
            for (i, o) in order.enumerated() { sigmas[o] = min(max(sorted[i], minSigma), maxSigma) }
        }
        mus.append(0.5 * (low + high))
        sigmas.append(high - low)
        // Truncation bounds: the user range for continuous parameters, the outer bin edges for stepped ones.
        let lower = isLog ? log(userLow - step / 2) : userLow - step / 2
        let upper = isLog ? log(userHigh + step / 2) : userHigh + step / 2
        var logNorm = [Double](repeating: 0, count: mus.count)
        for k in mus.indices {
            let z = Normal.logMass((lower - mus[k]) / sigmas[k], (upper - mus[k]) / sigmas[k])
            // Continuous: log(σ √2π · Z); discrete: log Z (the bin masses are divided by Z).
            logNorm[k] = step == 0 ? z + log(sigmas[k]) + Normal.logSqrt2Pi : z
        }
        return .numerical(
            mus: mus, sigmas: sigmas, lower: lower, upper: upper, step: step, log: isLog, low: userLow,
            high: userHigh, logNorm: logNorm)
    }

    /// Draws `count` points (rows of internal values).
    public func sample(count: Int, rng: inout Xoshiro256) -> [[Double]] {
        var cumulative = [Double](repeating: 0, count: weights.count)
        var s = 0.0
        for (i, w) in weights.enumerated() { s += w; cumulative[i] = s }
        var out: [[Double]] = []
        out.reserveCapacity(count)
        for _ in 0..<count {
            let u = rng.uniform() * s
            var lo = 0, hi = cumulative.count - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if cumulative[mid] > u { hi = mid } else { lo = mid + 1 }
            }
            let k = lo
            var row = [Double](repeating: 0, count: components.count)
            for (j, comp) in components.enumerated() {
                switch comp {
                case .categorical(let probs, _, let c):
                    let r = rng.uniform()
                    var acc = 0.0, pick = c - 1
                    for i in 0..<c {
                        acc += probs[k * c + i]
                        if r < acc { pick = i; break }
                    }
                    row[j] = Double(pick)
                case .numerical(let mus, let sigmas, let lower, let upper, let step, let isLog, let low, let high, _):
                    let mu = mus[k], sigma = sigmas[k]
                    var x = mu + sigma * Normal.sampleTruncated((lower - mu) / sigma, (upper - mu) / sigma, rng.uniformOpen())
                    if isLog { x = exp(x) }
                    if step > 0 { x = low + ((x - low) / step).rounded() * step }
                    row[j] = min(max(x, low), high)
                }
            }
            out.append(row)
        }
        return out
    }

    /// log density of each point (rows of internal values), as defined in the type's comment.
    public func logPDF(_ points: [[Double]]) -> [Double] {
        // All-discrete spaces (e.g. one categorical in univariate TPE): evaluate each distinct point once.
        let discrete = components.allSatisfy {
            if case .numerical(_, _, _, _, let step, _, _, _, _) = $0 { return step > 0 } else { return true }
        }
        if discrete && points.count > 1 {
            var unique: [[Double]] = [], slot: [[Double]: Int] = [:], map: [Int] = []
            for p in points {
                if let i = slot[p] { map.append(i) } else {
                    slot[p] = unique.count
                    map.append(unique.count)
                    unique.append(p)
                }
            }
            if unique.count < points.count {
                let u = logPDFAll(unique)
                return map.map { u[$0] }
            }
        }
        return logPDFAll(points)
    }

    private func logPDFAll(_ points: [[Double]]) -> [Double] {
        let kernels = weights.count, m = points.count
        var acc = [Double](repeating: 0, count: m * kernels)
        acc.withUnsafeMutableBufferPointer { a in
            for c in 0..<m { for k in 0..<kernels { a[c * kernels + k] = logWeights[k] } }
            for (j, comp) in components.enumerated() {
                switch comp {
                case .categorical(_, let logProbs, let choices):
                    logProbs.withUnsafeBufferPointer { lp in
                        for c in 0..<m {
                            let x = Int(points[c][j])
                            let base = c * kernels
                            for k in 0..<kernels { a[base + k] += lp[k * choices + x] }
                        }
                    }
                case .numerical(let mus, let sigmas, let lower, let upper, let step, let isLog, _, _, let logNorm):
                    if step == 0 {
                        for c in 0..<m {
                            let x = isLog ? log(points[c][j]) : points[c][j]
                            let base = c * kernels
                            for k in 0..<kernels {
                                let z = (x - mus[k]) / sigmas[k]
                                a[base + k] += -0.5 * z * z - logNorm[k]
                            }
                        }
                    } else {
                        // Bin masses, computed once per distinct value.
                        var cache: [Double: [Double]] = [:]
                        for c in 0..<m {
                            let x = points[c][j]
                            let row: [Double]
                            if let r = cache[x] {
                                row = r
                            } else {
                                var left = x - step / 2, right = x + step / 2
                                if isLog { left = log(left); right = log(right) }
                                left = max(left, lower); right = min(right, upper)
                                var r = [Double](repeating: 0, count: kernels)
                                for k in 0..<kernels {
                                    r[k] = Normal.logMass((left - mus[k]) / sigmas[k], (right - mus[k]) / sigmas[k]) - logNorm[k]
                                }
                                cache[x] = r
                                row = r
                            }
                            let base = c * kernels
                            for k in 0..<kernels { a[base + k] += row[k] }
                        }
                    }
                }
            }
        }
        var out = [Double](repeating: 0, count: m)
        for c in 0..<m {
            var mx = -Double.infinity
            for k in 0..<kernels { mx = max(mx, acc[c * kernels + k]) }
            if mx == -.infinity { out[c] = -.infinity; continue }
            var s = 0.0
            for k in 0..<kernels { s += exp(acc[c * kernels + k] - mx) }
            out[c] = mx + log(s)
        }
        return out
    }
}
