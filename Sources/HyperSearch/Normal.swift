import Foundation

/// The standard normal distribution in log space, accurate far into the tails (|x| up to ~1e150), as the
/// truncated Gaussians of the Parzen estimator need (a kernel may be 100 bandwidths from a bound).
enum Normal {
    static let logSqrt2Pi = 0.5 * log(2 * Double.pi)

    /// log φ(x).
    @inline(__always) static func logPDF(_ x: Double) -> Double { -0.5 * x * x - logSqrt2Pi }

    /// log Φ(x).
    static func logCDF(_ x: Double) -> Double {
        if x > 6 { return -0.5 * erfc(x / 2.squareRoot()) }       // log(1 − q) ≈ −q, q tiny
        if x > -20 { return log(0.5 * erfc(-x / 2.squareRoot())) }
        // Asymptotic series of the Mills ratio: Φ(x) = φ(x)/(−x) · (1 − 1/x² + 3/x⁴ − 15/x⁶ + 105/x⁸ …).
        let x2 = 1 / (x * x)
        let series = 1 - x2 * (1 - 3 * x2 * (1 - 5 * x2 * (1 - 7 * x2)))
        return logPDF(x) - log(-x) + log(series)
    }

    /// log(Φ(b) − Φ(a)) for a ≤ b.
    static func logMass(_ a: Double, _ b: Double) -> Double {
        if a >= b { return -.infinity }
        if a > 0 { return logMass(-b, -a) }                       // mirror into the lower half
        if b <= 0 {
            let la = logCDF(a), lb = logCDF(b)
            return lb + log1mexp(la - lb)
        }
        // a ≤ 0 < b: 1 − Φ(a) − Φ(−b), both terms ≤ 1/2.
        return log1p(-0.5 * erfc(-a / 2.squareRoot()) - 0.5 * erfc(b / 2.squareRoot()))
    }

    /// log(1 − e^x) for x ≤ 0.
    @inline(__always) static func log1mexp(_ x: Double) -> Double {
        x > -0.693 ? log(-expm1(x)) : log1p(-exp(x))
    }

    /// Φ⁻¹(p) for p in (0, 1): Acklam's rational approximation refined by one Halley step.
    static func quantile(_ p: Double) -> Double {
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                 -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        var x: Double
        if p < 0.02425 {
            let q = (-2 * log(p)).squareRoot()
            x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else if p > 1 - 0.02425 {
            let q = (-2 * log1p(-p)).squareRoot()
            x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else {
            let q = p - 0.5, r = q * q
            x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
                / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        }
        // Halley refinement with the exact CDF.
        let e = 0.5 * erfc(-x / 2.squareRoot()) - p
        let u = e * (2 * Double.pi).squareRoot() * exp(0.5 * x * x)
        x -= u / (1 + 0.5 * x * u)
        return x
    }

    /// The x with log Φ(x) = y (y ≤ 0).
    static func quantileOfLog(_ y: Double) -> Double {
        if y > -700 { return quantile(exp(y)) }
        // Far lower tail: start from the leading asymptote and polish with Newton on log Φ.
        var x = -(-2 * y - log(-4 * Double.pi * y)).squareRoot()
        for _ in 0..<4 {
            let f = logCDF(x) - y
            let slope = exp(logPDF(x) - logCDF(x))
            x -= f / slope
        }
        return x
    }

    /// A draw from the standard normal truncated to [a, b], by inverting the CDF in log space.
    static func sampleTruncated(_ a: Double, _ b: Double, _ u: Double) -> Double {
        if a > 0 { return -sampleTruncated(-b, -a, 1 - u) }
        let la = logCDF(a)
        let lm = logMass(a, b)
        // log(Φ(a) + u (Φ(b) − Φ(a)))
        let t = log(u) + lm
        let hi = max(la, t), lo = min(la, t)
        let y = min(hi + log1p(exp(lo - hi)), 0)
        let x = quantileOfLog(y)
        return min(max(x, a), b)
    }
}
