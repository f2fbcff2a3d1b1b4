import Foundation
import Training
import Vision

/// Subject-independent cross-validation folds (paper §4.1–4.2): leave-one-subject-out, or k folds of whole
/// subjects. A plan is a deterministic function of the subject list and the seed, so every trial of a search
/// sees the same folds; it is `Codable` so reports can record it.
public struct CrossValidationPlan: Sendable, Codable, Hashable {
    public enum Method: String, Sendable, Codable, CaseIterable {
        /// One fold per subject.
        case leaveOneSubjectOut = "loso"
        /// `k` folds of subjects.
        case kFold = "kfold"
        /// Train on one dataset, test on another (one "fold" in reports).
        case crossDataset = "cross_dataset"
    }

    /// How subjects are dealt to k folds.
    public enum Assignment: String, Sendable, Codable, CaseIterable {
        /// Subjects shuffled with the seed, then each given (largest first) to the fold with the fewest clips:
        /// folds of similar size.
        case balanced
        /// Subjects in ascending id order, dealt round-robin (subject i → fold i mod k), as the CK+ protocols of
        /// the works the paper follows describe ("10 subsets by subject id"); the seed is not used.
        case ascendingID = "ascending_id"
    }

    public struct Fold: Sendable, Codable, Hashable {
        public var index: Int
        public var testSubjects: [String]
        public var trainSubjects: [String]
    }

    public var method: Method
    public var k: Int
    public var seed: UInt64
    public var assignment: Assignment
    public var folds: [Fold]

    /// The single "fold" of a cross-dataset evaluation: all subjects of the training set, then all of the test set.
    public static func crossDataset(trainSubjects: [String], testSubjects: [String]) -> CrossValidationPlan {
        let fold = Fold(
            index: 0, testSubjects: Array(Set(testSubjects)).sorted(by: naturalOrder), trainSubjects: Array(Set(trainSubjects)).sorted(by: naturalOrder))
        return CrossValidationPlan(method: .crossDataset, k: 1, seed: 0, assignment: .ascendingID, folds: [fold])
    }

    /// One fold per distinct subject of `subjects` (one entry per clip, or a list of names), natural order.
    public static func leaveOneSubjectOut(subjects: [String]) throws -> CrossValidationPlan {
        let names = Array(Set(subjects)).sorted(by: naturalOrder)
        guard names.count >= 2 else {
            throw DatasetError.invalidArgument("leave-one-subject-out needs at least 2 subjects, got \(names.count)")
        }
        let folds = names.enumerated().map { i, name in
            Fold(index: i, testSubjects: [name], trainSubjects: names.filter { $0 != name })
        }
        return CrossValidationPlan(method: .leaveOneSubjectOut, k: names.count, seed: 0, assignment: .ascendingID, folds: folds)
    }

    /// `k` subject-independent folds. `subjects` has one entry per clip (its subject), so folds can be balanced
    /// by clip count.
    public static func kFold(subjects: [String], k: Int, seed: UInt64, assignment: Assignment = .balanced) throws -> CrossValidationPlan {
        var clipCounts = [String: Int]()
        for s in subjects { clipCounts[s, default: 0] += 1 }
        let names = clipCounts.keys.sorted(by: naturalOrder)
        guard k >= 2 else { throw DatasetError.invalidArgument("k-fold cross-validation needs k ≥ 2, got \(k)") }
        guard names.count >= k else {
            throw DatasetError.invalidArgument("\(k) folds need at least \(k) subjects, got \(names.count)")
        }
        var members = [[String]](repeating: [], count: k)
        switch assignment {
        case .ascendingID:
            for (i, name) in names.enumerated() { members[i % k].append(name) }
        case .balanced:
            var rng = SplitMix64(seed: seed)
            var order = names
            // Fisher–Yates with our own generator: the same on every platform and Swift version
            for i in stride(from: order.count - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                order.swapAt(i, j)
            }
            let position = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
            order.sort { clipCounts[$0]! != clipCounts[$1]! ? clipCounts[$0]! > clipCounts[$1]! : position[$0]! < position[$1]! }
            var sizes = [Int](repeating: 0, count: k)
            for name in order {
                let target = sizes.indices.min { sizes[$0] != sizes[$1] ? sizes[$0] < sizes[$1] : $0 < $1 }!
                members[target].append(name)
                sizes[target] += clipCounts[name]!
            }
        }
        let folds = members.enumerated().map { i, test in
            let testSet = Set(test)
            return Fold(index: i, testSubjects: test.sorted(by: naturalOrder), trainSubjects: names.filter { !testSet.contains($0) })
        }
        return CrossValidationPlan(method: .kFold, k: k, seed: seed, assignment: assignment, folds: folds)
    }

    /// Indices of the clips of `subjects` (one entry per clip) that fold `fold` (0..<folds.count) tests.
    public func testIndices(fold: Int, subjects: [String]) throws -> [Int] {
        let test = Set(try self.fold(fold).testSubjects)
        return subjects.indices.filter { test.contains(subjects[$0]) }
    }

    /// Indices of the clips fold `fold` trains on (every clip of its training subjects).
    public func trainIndices(fold: Int, subjects: [String]) throws -> [Int] {
        let train = Set(try self.fold(fold).trainSubjects)
        return subjects.indices.filter { train.contains(subjects[$0]) }
    }

    /// The (train, test) clip sets of fold `fold`.
    public func split(_ clips: LabeledClips, fold: Int) throws -> (train: LabeledClips, test: LabeledClips) {
        (clips.subset(try trainIndices(fold: fold, subjects: clips.subjects)),
         clips.subset(try testIndices(fold: fold, subjects: clips.subjects)))
    }

    private func fold(_ index: Int) throws -> Fold {
        guard folds.indices.contains(index) else {
            throw DatasetError.invalidArgument("fold \(index) does not exist; the plan has folds 0..<\(folds.count)")
        }
        return folds[index]
    }

    /// Checks that the plan fits `subjects` (one per clip): every subject tested exactly once, never trained on
    /// in the fold that tests it. Throws naming the first problem.
    public func validate(subjects: [String]) throws {
        var tested = [String: Int]()
        for fold in folds {
            let train = Set(fold.trainSubjects)
            if let both = fold.testSubjects.first(where: { train.contains($0) }) {
                throw DatasetError.invalidArgument("fold \(fold.index): subject \(both) is in both the training and the test set")
            }
            for s in fold.testSubjects { tested[s, default: 0] += 1 }
        }
        for s in Set(subjects) where tested[s] != 1 {
            throw DatasetError.invalidArgument("subject \(s) is tested \(tested[s] ?? 0) times; expected once")
        }
    }

    public func jsonString() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    public static func decode(json: String) throws -> CrossValidationPlan {
        do { return try JSONDecoder().decode(CrossValidationPlan.self, from: Data(json.utf8)) } catch {
            throw DatasetError.invalidFile(path: "<fold plan JSON>", message: "not a cross-validation plan (\(error))")
        }
    }
}
