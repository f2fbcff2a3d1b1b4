import Testing

@testable import HyperSearch

@Suite struct PrunerTests {
    func running(_ values: [Int: Double], bounds: [Int: Double] = [:]) -> FrozenTrial {
        var t = frozen(99, .running, [:], intermediate: values)
        t.intermediateBounds = bounds
        return t
    }

    @Test func thresholdPrunesBelowTheRunningValue() {
        let p = PrunerConfig.threshold(threshold: 0.965, warmupSteps: 1)
        #expect(!p.shouldPrune(running([0: 0.5]), trials: [], direction: .maximize))  // warm-up
        #expect(p.shouldPrune(running([0: 0.5, 1: 0.96]), trials: [], direction: .maximize))
        #expect(!p.shouldPrune(running([0: 0.5, 1: 0.97]), trials: [], direction: .maximize))
        #expect(p.shouldPrune(running([0: 0.5, 1: .nan]), trials: [], direction: .maximize))
        #expect(p.shouldPrune(running([0: 0.5, 1: 0.97]), trials: [], direction: .minimize))
    }

    @Test func paperRulePrunesOnlyWhenTheThresholdIsOutOfReach() {
        // 10 equal folds, accuracy ≤ 1 each: after fold 0 at 0.8, the best final is (0.8 + 9)/10 = 0.98.
        let p = PrunerConfig.unreachable(threshold: 0.965, totalSteps: 10, bestStepValue: 1)
        #expect(!p.shouldPrune(running([0: 0.8]), trials: [], direction: .maximize))
        // After fold 4 (5 folds) at 0.92: (0.92·5 + 5)/10 = 0.96 < 0.965.
        #expect(p.shouldPrune(running([4: 0.92]), trials: [], direction: .maximize))
        #expect(!p.shouldPrune(running([4: 0.94]), trials: [], direction: .maximize))
        // A reported bound wins (unequal LOSO folds).
        #expect(p.shouldPrune(running([0: 0.99], bounds: [0: 0.95]), trials: [], direction: .maximize))
        #expect(!PrunerConfig.paper.shouldPrune(running([2: 0.5], bounds: [2: 0.97]), trials: [], direction: .maximize))
        #expect(PrunerConfig.paper.shouldPrune(running([2: 0.96]), trials: [], direction: .maximize))
    }

    @Test func medianPrunerFollowsOptuna() {
        let p = PrunerConfig.median(startupTrials: 2, warmupSteps: 0, intervalSteps: 1, minTrials: 1)
        let done = [0.5, 0.7, 0.9].enumerated().map { frozen($0.offset, .complete, [:], value: $0.element, intermediate: [0: $0.element]) }
        #expect(!p.shouldPrune(running([0: 0.1]), trials: Array(done[..<1]), direction: .maximize))  // start-up
        #expect(p.shouldPrune(running([0: 0.6]), trials: done, direction: .maximize))
        #expect(!p.shouldPrune(running([0: 0.75]), trials: done, direction: .maximize))
        #expect(!p.shouldPrune(running([0: 0.6]), trials: done, direction: .minimize))
        #expect(!p.shouldPrune(running([1: 0.1]), trials: done, direction: .maximize))  // no one at step 1
    }

    @Test func prunerJSONRoundTrips() throws {
        for p in [PrunerConfig.none, .paper, .threshold(threshold: 1, warmupSteps: 2), .median(startupTrials: 5, warmupSteps: 0, intervalSteps: 1, minTrials: 1)] {
            #expect(try JSONText.decode(PrunerConfig.self, try JSONText.encode(p)) == p)
        }
        let space = try JSONText.decode(SearchSpace.self, try JSONText.encode(SearchSpace.paperTable1))
        #expect(space == .paperTable1)
    }
}
