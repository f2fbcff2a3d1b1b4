import Foundation

/// Parameter importance by PED-ANOVA (Watanabe et al., IJCAI 2023; Optuna's `PedAnovaImportanceEvaluator`).
///
/// For each parameter: the Pearson divergence between its distribution among the top `targetQuantile`
/// of complete trials and among all complete trials, ∫ (p_top/p_all − 1)² p_all. Distributions are
/// estimated on a grid: the choices of categoricals, the values of integers/stepped floats (≤ 50), otherwise
/// 50 points of the (log) range, with Gaussian kernels of Scott's bandwidth. Unnormalised, as in Optuna;
/// `normalized` divides by the sum. Needs at least 2 top trials.
public func pedAnovaImportance(
    trials: [FrozenTrial], space: SearchSpace, direction: StudyDirection, targetQuantile: Double = 0.1
) -> (raw: [String: Double], normalized: [String: Double]) {
    let complete = trials.filter { $0.state == .complete && $0.value != nil && !$0.value!.isNaN }
    let sorted = complete.sorted { direction.isBetter($0.value!, than: $1.value!) }
    let nTop = max(2, Int((Double(sorted.count) * targetQuantile).rounded(.up)))
    var raw: [String: Double] = [:]
    guard sorted.count > nTop else { return (raw, raw) }
    let top = Array(sorted[..<nTop])
    for p in space.parameters where !p.distribution.isSingle {
        let d = p.distribution
        func values(_ ts: [FrozenTrial]) -> [Double] {
            ts.compactMap { t in t.params[p.name].flatMap { try? d.internalValue($0, name: p.name) } }
        }
        let all = values(sorted), best = values(top)
        let pAll: [Double], pTop: [Double]
        switch d {
        case .categorical(let choices):
            func hist(_ xs: [Double]) -> [Double] {
                var h = [Double](repeating: 1e-12, count: choices.count)
                for x in xs { h[Int(x)] += 1 }
                let s = h.reduce(0, +)
                return h.map { $0 / s }
            }
            pAll = hist(all); pTop = hist(best)
        default:
            var grid: [Double] = []
            var isLog = false
            switch d {
            case .int(let l, let h, let s, let lg):
                isLog = lg
                if (h - l) / s + 1 <= 50 { grid = stride(from: l, through: h, by: s).map(Double.init) }
            case .float(let l, let h, let s, let lg):
                isLog = lg
                if let s, (h - l) / s + 1 <= 50 { grid = stride(from: l, through: h + s / 2, by: s).map { $0 } }
            default: break
            }
            let (lo, hi): (Double, Double) = {
                switch d {
                case .int(let l, let h, _, _): return (Double(l), Double(h))
                case .float(let l, let h, _, _): return (l, h)
                default: return (0, 1)
                }
            }()
            let t: (Double) -> Double = isLog ? { log($0) } : { $0 }
            if grid.isEmpty { grid = (0..<50).map { t(lo) + (t(hi) - t(lo)) * Double($0) / 49 } } else { grid = grid.map(t) }
            func kde(_ xs: [Double]) -> [Double] {
                let ys = xs.map(t)
                let n = Double(ys.count)
                let mean = ys.reduce(0, +) / n
                let sd = (ys.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / max(n - 1, 1)).squareRoot()
                let h = max(1.059 * sd * pow(n, -0.2), (t(hi) - t(lo)) / 100, 1e-12)
                var out = grid.map { g in ys.reduce(1e-300) { $0 + exp(-0.5 * (g - $1) * (g - $1) / (h * h)) } }
                let s = out.reduce(0, +)
                out = out.map { $0 / s }
                return out
            }
            pAll = kde(all); pTop = kde(best)
        }
        var div = 0.0
        for (a, b) in zip(pAll, pTop) where a > 0 { div += a * (b / a - 1) * (b / a - 1) }
        raw[p.name] = div
    }
    let total = raw.values.reduce(0, +)
    let normalized = total > 0 ? raw.mapValues { $0 / total } : raw
    return (raw, normalized)
}
