import Foundation
import Testing

@testable import HyperSearch

@Suite struct ParzenEstimatorTests {
    /// Midpoint-rule integral of exp(logPDF) over [a, b] in the estimator's density coordinate.
    func integrate(_ pe: ParzenEstimator, _ a: Double, _ b: Double, n: Int = 20000, map: (Double) -> Double = { $0 })
        -> Double
    {
        let h = (b - a) / Double(n)
        let xs = (0..<n).map { [map(a + (Double($0) + 0.5) * h)] }
        return pe.logPDF(xs).reduce(0) { $0 + exp($1) } * h
    }

    @Test func continuousDensitiesIntegrateToOne() {
        let d = Distribution.float(low: -2, high: 3)
        for obs in [[], [0.1], [0.1, 2.9, -1.5], (0..<40).map { -2 + 5 * Double($0 % 7) / 7 }] {
            let pe = ParzenEstimator(observations: obs.map { [$0] }, distributions: [d])
            #expect(abs(integrate(pe, -2, 3) - 1) < 1e-6, "observations \(obs)")
        }
    }

    @Test func logDensitiesIntegrateToOneInLogSpace() {
        let d = Distribution.float(low: 1e-4, high: 1, log: true)
        let pe = ParzenEstimator(observations: [[1e-3], [0.5], [0.02]], distributions: [d])
        #expect(abs(integrate(pe, log(1e-4), 0, map: { exp($0) }) - 1) < 1e-6)
    }

    @Test func discreteMassesSumToOne() {
        for d in [Distribution.int(low: 1, high: 9, step: 2), .int(low: 1, high: 1000, log: true), .float(low: 0, high: 1, step: 0.1)] {
            let grid: [Double]
            switch d {
            case .int(let l, let h, let s, _): grid = stride(from: l, through: h, by: s).map(Double.init)
            case .float: grid = (0...10).map { Double($0) / 10 }
            default: grid = []
            }
            let obs = [grid[1], grid[grid.count / 2], grid[1]]
            let pe = ParzenEstimator(observations: obs.map { [$0] }, distributions: [d])
            let s = pe.logPDF(grid.map { [$0] }).reduce(0) { $0 + exp($1) }
            #expect(abs(s - 1) < 1e-9, "\(d): \(s)")
        }
    }

    @Test func jointMixedDensityIntegratesToOne() {
        let dists: [Distribution] = [
            .categorical([.string("a"), .string("b"), .string("c")]), .int(low: 1, high: 9, step: 2), .float(low: 0, high: 1),
        ]
        let obs: [[Double]] = [[0, 3, 0.2], [2, 9, 0.9], [0, 1, 0.5], [1, 5, 0.4]]
        let pe = ParzenEstimator(observations: obs, distributions: dists)
        var total = 0.0
        let n = 2000, h = 1.0 / Double(n)
        for c in 0..<3 {
            for t in stride(from: 1, through: 9, by: 2) {
                let xs = (0..<n).map { [Double(c), Double(t), (Double($0) + 0.5) * h] }
                total += pe.logPDF(xs).reduce(0) { $0 + exp($1) } * h
            }
        }
        #expect(abs(total - 1) < 1e-6)
    }

    @Test func handComputedContinuousCase() {
        // One observation at 0.5 on [0, 1]: kernel σ = max(0.5, 0.5) = 0.5 (clip [1/3, 1]); prior N(0.5, 1);
        // weights 1/2, 1/2; each truncated to [0, 1].
        let pe = ParzenEstimator(observations: [[0.5]], distributions: [.float(low: 0, high: 1)])
        func phi(_ z: Double) -> Double { exp(-0.5 * z * z) / (2 * Double.pi).squareRoot() }
        func cdf(_ z: Double) -> Double { 0.5 * erfc(-z / 2.squareRoot()) }
        for x in [0.0, 0.3, 0.5, 0.95] {
            let k1 = phi((x - 0.5) / 0.5) / 0.5 / (cdf(1) - cdf(-1))
            let k2 = phi((x - 0.5) / 1) / 1 / (cdf(0.5) - cdf(-0.5))
            let expected = 0.5 * k1 + 0.5 * k2
            #expect(abs(exp(pe.logPDF([[x]])[0]) - expected) < 1e-12)
        }
        #expect(abs(exp(pe.logPDF([[0.5]])[0]) - 1.105284) < 1e-6)
    }

    @Test func handComputedBandwidthsAndMagicClip() {
        // Observations 0.1, 0.2, 0.9 on [0, 1]: neighbour gaps give σ = 0.1 (end: inner gap), 0.7, 0.7 (end);
        // the magic clip raises 0.1 to 1/min(100, 1 + 4) = 0.2.
        let pe = ParzenEstimator(observations: [[0.1], [0.2], [0.9]], distributions: [.float(low: 0, high: 1)])
        guard case .numerical(let mus, let sigmas, _, _, _, _, _, _, _) = pe.components[0] else { Issue.record(); return }
        #expect(mus == [0.1, 0.2, 0.9, 0.5])
        #expect(zip(sigmas, [0.2, 0.7, 0.7, 1.0]).allSatisfy { abs($0 - $1) < 1e-12 })
        #expect(pe.weights == [0.25, 0.25, 0.25, 0.25])
    }

    @Test func handComputedCategoricalCase() {
        // One observation of choice 0 among 3: kernel [1.5, .5, .5]/2.5, prior uniform, weights 1/2 each.
        let pe = ParzenEstimator(
            observations: [[0]], distributions: [.categorical([.int(1), .int(2), .int(3)])])
        let p = pe.logPDF([[0], [1], [2]]).map { exp($0) }
        #expect(abs(p[0] - (0.5 * 0.6 + 0.5 / 3)) < 1e-12)
        #expect(abs(p[1] - (0.5 * 0.2 + 0.5 / 3)) < 1e-12)
        #expect(abs(p.reduce(0, +) - 1) < 1e-12)
    }

    @Test func weightsRampForOldTrials() {
        #expect(ParzenEstimator.defaultWeights(0) == [])
        #expect(ParzenEstimator.defaultWeights(24) == [Double](repeating: 1, count: 24))
        let w = ParzenEstimator.defaultWeights(30)
        #expect(w.count == 30 && abs(w[0] - 1.0 / 30) < 1e-15 && w[4] == 1 && w[5] == 1)
        #expect(abs(w[2] - (1.0 / 30 + (1 - 1.0 / 30) * 0.5)) < 1e-12)
    }

    @Test func samplesStayInRangeAndOnTheGrid() {
        let dists: [Distribution] = [
            .int(low: 1, high: 9, step: 2), .float(low: 1e-5, high: 1e-1, log: true), .int(low: 2, high: 64, log: true),
            .float(low: -1, high: 1, step: 0.25),
        ]
        let obs: [[Double]] = [[9, 1e-5, 64, 1], [1, 0.1, 2, -1]]
        let pe = ParzenEstimator(observations: obs, distributions: dists)
        var rng = Xoshiro256(seed: 3)
        for x in pe.sample(count: 2000, rng: &rng) {
            #expect(x[0] >= 1 && x[0] <= 9 && Int(x[0]) % 2 == 1)
            #expect(x[1] >= 1e-5 && x[1] <= 1e-1)
            #expect(x[2] >= 2 && x[2] <= 64 && x[2] == x[2].rounded())
            #expect(x[3] >= -1 && x[3] <= 1 && (x[3] * 4) == (x[3] * 4).rounded())
        }
    }

    @Test func truncatedNormalTails() {
        // Far tails: mass and samples stay finite and inside the bounds.
        #expect(abs(Normal.logMass(-1, 1) - log(0.6826894921370859)) < 1e-12)
        let m = Normal.logMass(40, 41)
        #expect(m.isFinite && m < -790)
        var rng = Xoshiro256(seed: 1)
        for _ in 0..<1000 {
            let x = Normal.sampleTruncated(60, 61, rng.uniformOpen())
            #expect(x >= 60 && x <= 61)
            let y = Normal.sampleTruncated(-101, -100, rng.uniformOpen())
            #expect(y >= -101 && y <= -100)
        }
        #expect(abs(Normal.quantile(0.975) - 1.959963984540054) < 1e-12)
    }
}

/// Optuna 5's `_ParzenEstimator.log_pdf` on fixed cases (Fixtures/hypersearch/parzen_optuna.json, made by
/// `python3 Tools/tpe_reference.py fixtures`): every kind of parameter, 0/1/5/40 observations, joint kernels.
@Suite struct OptunaAgreementTests {
    struct Case: Decodable {
        var name: String
        var space: SearchSpace
        var observations: [[Double]]
        var queries: [[Double]]
        var log_pdf: [Double]
    }
    struct File: Decodable {
        var optuna: String
        var cases: [Case]
    }

    @Test func parzenEstimatorMatchesOptuna() throws {
        let url = repositoryRoot.appendingPathComponent("Fixtures/hypersearch/parzen_optuna.json")
        let file = try JSONDecoder().decode(File.self, from: try Data(contentsOf: url))
        #expect(file.cases.count == 28)
        for c in file.cases {
            let pe = ParzenEstimator(observations: c.observations, distributions: c.space.parameters.map(\.distribution))
            let got = pe.logPDF(c.queries)
            for (g, e) in zip(got, c.log_pdf) {
                #expect(abs(g - e) < 1e-9 * max(1, abs(e)), "\(c.name): \(g) vs Optuna \(e)")
            }
        }
    }
}
