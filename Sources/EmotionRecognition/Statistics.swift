import Foundation

/// Counts of (true class, predicted class) pairs. Rows are true classes, columns predictions.
public struct ConfusionMatrix: Sendable, Codable, Equatable {
    public var classNames: [String]
    /// `counts[true][predicted]`.
    public var counts: [[Int]]

    public init(classNames: [String]) {
        self.classNames = classNames
        counts = Array(repeating: Array(repeating: 0, count: classNames.count), count: classNames.count)
    }

    /// The matrix of `predictions` against `labels` (class indices).
    public init(labels: [Int], predictions: [Int], classNames: [String]) throws {
        self.init(classNames: classNames)
        guard labels.count == predictions.count else {
            throw DatasetError.invalidArgument("confusion matrix: \(labels.count) labels but \(predictions.count) predictions")
        }
        for (label, prediction) in zip(labels, predictions) {
            guard classNames.indices.contains(label), classNames.indices.contains(prediction) else {
                throw DatasetError.invalidArgument("confusion matrix: class index \(classNames.indices.contains(label) ? prediction : label) outside 0..<\(classNames.count)")
            }
            counts[label][prediction] += 1
        }
    }

    /// Sum of two matrices over the same classes (e.g. the folds of a cross-validation).
    public static func + (a: ConfusionMatrix, b: ConfusionMatrix) -> ConfusionMatrix {
        precondition(a.classNames == b.classNames, "adding confusion matrices over different classes")
        var out = a
        for i in a.counts.indices { for j in a.counts.indices { out.counts[i][j] += b.counts[i][j] } }
        return out
    }

    public var total: Int { counts.joined().reduce(0, +) }
    public var correct: Int { counts.indices.reduce(0) { $0 + counts[$1][$1] } }
    /// Correct / total (0 for an empty matrix).
    public var accuracy: Double { total > 0 ? Double(correct) / Double(total) : 0 }

    /// Each row divided by its sum (the share of each true class given to each prediction); empty rows stay 0.
    public var rowNormalized: [[Double]] {
        counts.map { row in
            let sum = row.reduce(0, +)
            return row.map { sum > 0 ? Double($0) / Double(sum) : 0 }
        }
    }

    /// Per-class recall (nil for a class with no clip).
    public var recall: [Double?] {
        counts.indices.map { i in
            let sum = counts[i].reduce(0, +)
            return sum > 0 ? Double(counts[i][i]) / Double(sum) : nil
        }
    }
}

/// The share of `predictions` equal to `labels`.
public func accuracy(labels: [Int], predictions: [Int]) throws -> Double {
    guard labels.count == predictions.count, !labels.isEmpty else {
        throw DatasetError.invalidArgument("accuracy: expected as many predictions as labels (at least one), got \(predictions.count) and \(labels.count)")
    }
    return Double(zip(labels, predictions).filter { $0 == $1 }.count) / Double(labels.count)
}

/// Mean and sample standard deviation (n − 1) of values such as per-fold accuracies.
public struct Summary: Sendable, Codable, Equatable, CustomStringConvertible {
    public var count: Int
    public var mean: Double
    /// Sample standard deviation (divides by n − 1); 0 for a single value.
    public var standardDeviation: Double
    public var minimum: Double
    public var maximum: Double

    public init(_ values: [Double]) throws {
        guard !values.isEmpty, values.allSatisfy(\.isFinite) else {
            throw DatasetError.invalidArgument("summary: expected at least one finite value, got \(values)")
        }
        count = values.count
        mean = values.reduce(0, +) / Double(values.count)
        let m = mean
        standardDeviation = values.count > 1
            ? (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)).squareRoot() : 0
        minimum = values.min()!
        maximum = values.max()!
    }

    /// "97.56 ± 1.20" with `digits` decimals.
    public func formatted(digits: Int = 2) -> String {
        String(format: "%.\(digits)f ± %.\(digits)f", mean, standardDeviation)
    }

    public var description: String { formatted() }
}

/// A paired t-test of two matched samples (e.g. per-fold accuracies of two architectures on the same folds),
/// as `scipy.stats.ttest_rel` computes it: t = mean(d) / (sd(d) / √n) with d = a − b, df = n − 1.
///
/// The paper's Tables 4–5 p-values (0.00057, 0.00067, 0.03650, 0.00597) are the one-sided ones
/// (`alternative: .greater`); the two-sided p-values of the same numbers are twice as large (checked against SciPy).
public struct PairedTTest: Sendable, Codable, Equatable, CustomStringConvertible {
    /// The alternative hypothesis, as SciPy's `alternative` argument.
    public enum Alternative: String, Sendable, Codable, CaseIterable {
        /// mean(a − b) ≠ 0.
        case twoSided = "two-sided"
        /// mean(a − b) > 0: the first sample is higher.
        case greater
        /// mean(a − b) < 0.
        case less
    }

    public var count: Int
    /// Mean of a − b.
    public var meanDifference: Double
    /// t statistic: ±infinity when every difference is the same non-zero value, NaN when all are zero.
    public var statistic: Double
    public var degreesOfFreedom: Int
    public var alternative: Alternative
    /// p-value under `alternative` (NaN when the statistic is).
    public var pValue: Double
    /// Significance level the verdict uses.
    public var alpha: Double

    /// p < alpha; nil when the test is undefined (all differences zero).
    public var significant: Bool? { pValue.isNaN ? nil : pValue < alpha }

    public var verdict: String {
        guard let significant else { return "undefined: the two samples are identical" }
        let p = pValue < 1e-4 ? String(format: "%.2e", pValue) : String(format: "%.5f", pValue)
        let kind = alternative == .twoSided ? "" : " (one-sided, \(alternative == .greater ? "first > second" : "first < second"))"
        return significant
            ? "significant at \(alpha)\(kind) (p = \(p)): " + (meanDifference > 0 ? "the first is higher" : "the second is higher")
            : "not significant at \(alpha)\(kind) (p = \(p))"
    }

    public var description: String {
        String(format: "t(%d) = %.4f, p = %.5g, mean difference %.4f: ", degreesOfFreedom, statistic, pValue, meanDifference) + verdict
    }

    public init(_ a: [Double], _ b: [Double], alternative: Alternative = .twoSided, alpha: Double = 0.05) throws {
        guard a.count == b.count, a.count >= 2 else {
            throw DatasetError.invalidArgument("paired t-test: expected two samples of the same size ≥ 2, got \(a.count) and \(b.count)")
        }
        guard (a + b).allSatisfy(\.isFinite) else { throw DatasetError.invalidArgument("paired t-test: the samples hold a non-finite value") }
        guard alpha > 0, alpha < 1 else { throw DatasetError.invalidArgument("paired t-test: alpha must be in (0, 1), got \(alpha)") }
        let d = zip(a, b).map { $0 - $1 }
        let n = Double(d.count)
        let mean = d.reduce(0, +) / n
        let variance = d.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        count = d.count
        meanDifference = mean
        degreesOfFreedom = d.count - 1
        self.alternative = alternative
        self.alpha = alpha
        if variance == 0 {
            statistic = mean == 0 ? .nan : (mean > 0 ? .infinity : -.infinity)
        } else {
            statistic = mean / (variance / n).squareRoot()
        }
        let nu = Double(degreesOfFreedom)
        switch alternative {
        case .twoSided: pValue = studentTTwoSidedPValue(statistic, degreesOfFreedom: nu)
        case .greater: pValue = studentTUpperTail(statistic, degreesOfFreedom: nu)
        case .less: pValue = studentTUpperTail(-statistic, degreesOfFreedom: nu)
        }
    }
}

/// P(T ≥ t) for Student's t with `degreesOfFreedom`.
public func studentTUpperTail(_ t: Double, degreesOfFreedom nu: Double) -> Double {
    if t.isNaN || nu <= 0 { return .nan }
    if t.isInfinite { return t > 0 ? 0 : 1 }
    let half = 0.5 * regularizedIncompleteBeta(nu / 2, 0.5, nu / (nu + t * t))
    return t >= 0 ? half : 1 - half
}

/// P(|T| ≥ |t|) for Student's t with `degreesOfFreedom`: I_{ν/(ν+t²)}(ν/2, 1/2).
public func studentTTwoSidedPValue(_ t: Double, degreesOfFreedom nu: Double) -> Double {
    if t.isNaN || nu <= 0 { return .nan }
    if t.isInfinite { return 0 }
    return regularizedIncompleteBeta(nu / 2, 0.5, nu / (nu + t * t))
}

/// The regularised incomplete beta function I_x(a, b) for a, b > 0 and x in [0, 1], by its continued fraction
/// (evaluated with the modified Lentz method) on the side of x where it converges fast, and the symmetry
/// I_x(a, b) = 1 − I_{1−x}(b, a) on the other. Relative accuracy ≈ 1e-14.
public func regularizedIncompleteBeta(_ a: Double, _ b: Double, _ x: Double) -> Double {
    guard a > 0, b > 0, x >= 0, x <= 1 else { return .nan }
    if x == 0 || x == 1 { return x }
    if x > (a + 1) / (a + b + 2) { return 1 - regularizedIncompleteBeta(b, a, 1 - x) }
    // x^a (1 − x)^b / (a B(a, b)), in logarithms to avoid overflow
    let logFront = a * log(x) + b * log1p(-x) - (lgamma(a) + lgamma(b) - lgamma(a + b))
    let front = exp(logFront) / a
    // 1 / (1 + d1 / (1 + d2 / (1 + …))) with d_{2m+1} = −(a+m)(a+b+m)x / ((a+2m)(a+2m+1)),
    // d_{2m} = m(b−m)x / ((a+2m−1)(a+2m))
    let tiny = 1e-300
    var f = 1.0, c = 1.0, d = 0.0
    for i in 0...400 {
        let m = Double(i / 2)
        let numerator: Double
        if i == 0 {
            numerator = 1
        } else if i % 2 == 0 {
            numerator = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        } else {
            numerator = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        }
        d = 1 + numerator * d
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        c = 1 + numerator / c
        if abs(c) < tiny { c = tiny }
        let step = c * d
        f *= step
        if abs(1 - step) < 1e-15 { return front * (f - 1) }
    }
    return front * (f - 1)  // not converged in 400 terms: only for extreme a, b
}
