import Foundation
import TestSupport
import Testing
@testable import EmotionRecognition

@Suite struct StatisticsTests {
    /// Fixtures/stats/reference.json, made by Tools/stats_reference.py with SciPy.
    static var reference: [String: Any] {
        let data = try! Data(contentsOf: URL(fileURLWithPath: Fixtures.path("stats/reference.json")))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// JSON numbers, with null as NaN and "inf"/"-inf" as infinities.
    static func number(_ value: Any?) -> Double {
        switch value {
        case let n as NSNumber: n.doubleValue
        case let s as String: s == "inf" ? .infinity : s == "-inf" ? -.infinity : .nan
        default: .nan
        }
    }

    static func close(_ a: Double, _ b: Double, relative: Double) -> Bool {
        if a.isNaN || b.isNaN { return a.isNaN && b.isNaN }
        if a.isInfinite || b.isInfinite { return a == b }
        return abs(a - b) <= relative * max(abs(b), 1e-300) || abs(a - b) < 1e-300
    }

    @Test func pairedTTestMatchesSciPy() throws {
        #expect(Self.reference["format"] as? String == "emotion3d-stats-reference")
        let cases = try #require(Self.reference["ttest_rel"] as? [[String: Any]])
        #expect(cases.count >= 20)
        for c in cases {
            let name = c["name"] as! String
            let alternative = try #require(PairedTTest.Alternative(rawValue: c["alternative"] as! String))
            let test = try PairedTTest((c["a"] as! [NSNumber]).map(\.doubleValue), (c["b"] as! [NSNumber]).map(\.doubleValue),
                                       alternative: alternative)
            #expect(test.degreesOfFreedom == c["df"] as! Int)
            #expect(Self.close(test.statistic, Self.number(c["statistic"]), relative: 1e-9), "\(name): t \(test.statistic) vs \(c["statistic"]!)")
            #expect(Self.close(test.pValue, Self.number(c["pvalue"]), relative: 1e-9), "\(name): p \(test.pValue) vs \(c["pvalue"]!)")
        }
    }

    @Test func paperTablesAreOneSided() throws {
        let c1 = [Double](repeating: 100, count: 10)
        let c2 = [93.9, 100, 84.8, 78.7, 87.8, 93.9, 93.9, 96.8, 87.5, 90]
        let oneSided = try PairedTTest(c1, c2, alternative: .greater)
        #expect(abs(oneSided.pValue - 0.00057) < 0.000005)  // the paper's 0.00057
        #expect(oneSided.significant == true && oneSided.verdict.hasPrefix("significant at 0.05 (one-sided"))
        let twoSided = try PairedTTest(c1, c2)
        #expect(abs(twoSided.pValue - 2 * oneSided.pValue) < 1e-15)
        let strict = try PairedTTest(c1, c2, alpha: 0.001)
        #expect(strict.significant == false && strict.verdict.hasPrefix("not significant at 0.001"))
        let same = try PairedTTest([1, 2], [1, 2])
        #expect(same.significant == nil && same.statistic.isNaN)
        #expect(throws: DatasetError.self) { try PairedTTest([1, 2, 3], [1, 2]) }
        #expect(throws: DatasetError.self) { try PairedTTest([1], [2]) }
        #expect(throws: DatasetError.self) { try PairedTTest([1, .nan], [2, 3]) }
        #expect(throws: DatasetError.self) { try PairedTTest([1, 2], [2, 3], alpha: 0) }
    }

    @Test func incompleteBetaMatchesSciPy() throws {
        let rows = try #require(Self.reference["betainc"] as? [[String: Any]])
        for r in rows {
            let a = Self.number(r["a"]), b = Self.number(r["b"]), x = Self.number(r["x"])
            let value = regularizedIncompleteBeta(a, b, x)
            #expect(Self.close(value, Self.number(r["value"]), relative: 1e-10), "I_\(x)(\(a), \(b)) = \(value), SciPy \(r["value"]!)")
        }
        #expect(regularizedIncompleteBeta(-1, 1, 0.5).isNaN && regularizedIncompleteBeta(1, 1, 1.5).isNaN)
    }

    @Test func summariesMatchNumPy() throws {
        let rows = try #require(Self.reference["summary"] as? [[String: Any]])
        for r in rows {
            let s = try Summary((r["values"] as! [NSNumber]).map(\.doubleValue))
            #expect(Self.close(s.mean, Self.number(r["mean"]), relative: 1e-12))
            #expect(Self.close(s.standardDeviation, Self.number(r["sd"]), relative: 1e-12) || s.standardDeviation == 0)
        }
        #expect(try Summary([90.76, 91.14]).formatted() == "90.95 ± 0.27")
        #expect(throws: DatasetError.self) { try Summary([]) }
    }

    @Test func confusionMatrixCountsAndNormalises() throws {
        let m = try ConfusionMatrix(labels: [0, 0, 0, 1, 1, 2], predictions: [0, 0, 1, 1, 1, 0], classNames: ["a", "b", "c"])
        #expect(m.counts == [[2, 1, 0], [0, 2, 0], [1, 0, 0]])
        #expect(m.total == 6 && m.correct == 4 && abs(m.accuracy - 4.0 / 6) < 1e-15)
        #expect(m.rowNormalized[0] == [2.0 / 3, 1.0 / 3, 0] && m.rowNormalized[2] == [1, 0, 0])
        #expect(m.recall[1] == 1 && m.recall[2] == 0)
        let empty = ConfusionMatrix(classNames: ["a", "b", "c"])
        #expect(empty.rowNormalized[1] == [0, 0, 0] && empty.recall[0] == nil && empty.accuracy == 0)
        let sum = m + m
        #expect(sum.counts[0][0] == 4 && sum.accuracy == m.accuracy)
        #expect(throws: DatasetError.self) { try ConfusionMatrix(labels: [0, 3], predictions: [0, 0], classNames: ["a", "b"]) }
        #expect(throws: DatasetError.self) { try ConfusionMatrix(labels: [0], predictions: [0, 1], classNames: ["a", "b"]) }
        #expect(try accuracy(labels: [1, 2, 3, 4], predictions: [1, 2, 0, 4]) == 0.75)
        #expect(throws: DatasetError.self) { try accuracy(labels: [], predictions: []) }
    }
}
