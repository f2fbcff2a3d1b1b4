import Foundation
import GraphCore
import Testing
@testable import EmotionRecognition
@testable import Training
import Vision

@Suite struct CrossValidationTests {
    /// 23 subjects with 1…9 clips each.
    static let subjects: [String] = (1...23).flatMap { s in Array(repeating: String(format: "S%03d", s * 3), count: 1 + (s * 7) % 9) }

    func checkPartition(_ plan: CrossValidationPlan, _ subjects: [String]) throws {
        try plan.validate(subjects: subjects)
        var tested = [Int](repeating: 0, count: subjects.count)
        for f in plan.folds.indices {
            let test = try plan.testIndices(fold: f, subjects: subjects), train = try plan.trainIndices(fold: f, subjects: subjects)
            #expect(!test.isEmpty)
            #expect(Set(test.map { subjects[$0] }).isDisjoint(with: train.map { subjects[$0] }))
            #expect(test.count + train.count == subjects.count)
            for i in test { tested[i] += 1 }
        }
        #expect(tested.allSatisfy { $0 == 1 })
    }

    @Test func leaveOneSubjectOut() throws {
        let plan = try CrossValidationPlan.leaveOneSubjectOut(subjects: Self.subjects)
        #expect(plan.folds.count == 23 && plan.folds[0].testSubjects == ["S003"] && plan.folds[22].testSubjects == ["S069"])
        try checkPartition(plan, Self.subjects)
        #expect(throws: DatasetError.self) { try CrossValidationPlan.leaveOneSubjectOut(subjects: ["S1", "S1"]) }
    }

    @Test func kFoldIsDeterministicBalancedAndSubjectIndependent() throws {
        let plan = try CrossValidationPlan.kFold(subjects: Self.subjects, k: 10, seed: 42)
        try checkPartition(plan, Self.subjects)
        #expect(try CrossValidationPlan.kFold(subjects: Self.subjects.reversed(), k: 10, seed: 42) == plan)
        #expect(try CrossValidationPlan.kFold(subjects: Self.subjects, k: 10, seed: 43) != plan)
        let sizes = try plan.folds.indices.map { try plan.testIndices(fold: $0, subjects: Self.subjects).count }
        #expect(sizes.max()! - sizes.min()! <= 9, "fold sizes \(sizes)")
        let decoded = try CrossValidationPlan.decode(json: try plan.jsonString())
        #expect(decoded == plan)
        #expect(try plan.jsonString().contains("\"method\" : \"kfold\""))

        let ascending = try CrossValidationPlan.kFold(subjects: Self.subjects, k: 10, seed: 0, assignment: .ascendingID)
        try checkPartition(ascending, Self.subjects)
        #expect(ascending.folds[0].testSubjects == ["S003", "S033", "S063"])

        let set = try LabeledClips(clipShape: Shape([1, 1, 1, 1]), pixels: Self.subjects.map { _ in 0 }, labels: Self.subjects.map { _ in 0 },
                                   classNames: ["x"], subjects: Self.subjects, sequenceIDs: Self.subjects.indices.map { "\($0)" })
        let (train, test) = try plan.split(set, fold: 3)
        #expect { try plan.split(set, fold: 10) } throws: { "\($0)".contains("0..<10") }
        #expect(Set(test.subjects) == Set(plan.folds[3].testSubjects) && train.count + test.count == set.count)
    }

    @Test func badPlansAreRejected() throws {
        #expect(throws: DatasetError.self) { try CrossValidationPlan.kFold(subjects: ["a", "b"], k: 3, seed: 1) }
        #expect(throws: DatasetError.self) { try CrossValidationPlan.kFold(subjects: ["a", "b"], k: 1, seed: 1) }
        var plan = try CrossValidationPlan.kFold(subjects: Self.subjects, k: 5, seed: 1)
        plan.folds[0].trainSubjects.append(plan.folds[0].testSubjects[0])
        #expect { try plan.validate(subjects: Self.subjects) } throws: { "\($0)".contains("both") }
        plan = try CrossValidationPlan.kFold(subjects: Self.subjects, k: 5, seed: 1)
        let moved = plan.folds[0].testSubjects[0]
        plan.folds[1].testSubjects.append(moved)
        plan.folds[1].trainSubjects.removeAll { $0 == moved }
        #expect { try plan.validate(subjects: Self.subjects) } throws: { "\($0)".contains("2 times") }
        #expect(throws: DatasetError.self) { try CrossValidationPlan.decode(json: "{}") }
    }
}

@Suite struct EvaluationReportTests {
    @Test func reportJSONReadsBackAndBadFilesNameThePath() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("e3d-report-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let subjects = ["S001", "S001", "S002", "S003", "S003"]
        let plan = try CrossValidationPlan.kFold(subjects: subjects, k: 2, seed: 7)
        let epochs = [EpochMetrics(epoch: 1, trainLoss: 1.5, trainAccuracy: 0.4, evaluationLoss: 1.2, evaluationAccuracy: 0.5, seconds: 1, clipsPerSecond: 3)]
        let folds = (0..<2).map { f in
            FoldResult(fold: f, testSubjects: plan.folds[f].testSubjects, trainClips: 3, testClips: 2, labels: [0, 1], bestPredictions: [0, f],
                       lastPredictions: [1, 1], bestEpoch: 1, epochs: epochs, seconds: 2)
        }
        let result = CrossValidationResult(architecture: "net", plan: plan, classNames: ["a", "b"], folds: folds, options: TrainerOptions())
        try EvaluationReport.write([result], title: "t", to: folder)
        let read = try EvaluationReport.results(from: folder + "/report.json")
        #expect(read.count == 1)
        #expect(read[0].plan == plan)
        #expect(read[0].overallBestAccuracy == result.overallBestAccuracy && read[0].overallLastAccuracy == result.overallLastAccuracy)
        #expect(read[0].folds.map(\.bestPredictions) == [[0, 0], [0, 1]])

        try Data("{\"title\": 3}".utf8).write(to: URL(fileURLWithPath: folder + "/bad.json"))
        #expect(throws: DatasetError.self) { try EvaluationReport.results(from: folder + "/bad.json") }
        do { _ = try EvaluationReport.results(from: folder + "/missing.json") } catch {
            #expect("\(error)".contains("missing.json"))
        }
    }
}
