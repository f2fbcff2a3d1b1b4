import Foundation
import Testing

@testable import HyperSearch

/// `emotion3d study ask|tell|best|export|importance` as an external program uses them.
@Suite struct CLITests {
    func run(_ args: [String], stdin: String = "") throws -> (status: Int32, out: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try emotion3dExecutable())
        p.arguments = args
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = output
        try p.run()
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    struct Asked: Decodable {
        var study: String
        var number: Int
        var params: [String: ParameterValue]
    }

    @Test func askTellLoopWithAnExternalObjective() throws {
        let dir = try TemporaryDirectory()
        let url = "sqlite:///" + dir.path + "/cli.db"
        let base = ["--storage", url, "--study", "ext"]
        for k in 0..<14 {
            let (status, out) = try run(["study", "ask"] + base + ["--seed", "3", "--pruner", "unreachable:0.965:4"])
            #expect(status == 0, "\(out)")
            let asked = try JSONDecoder().decode(Asked.self, from: Data(out.utf8))
            #expect(asked.number == k && asked.params.count == 10 && asked.study == "ext")
            let value = syntheticValue(asked.params)
            if k == 5 {
                // Report a running accuracy that can no longer reach 96.5 %: told to prune, then prunes.
                let (_, r) = try run(["study", "tell"] + base, stdin: #"{"number": 5, "intermediate_values": {"0": 0.5}}"#)
                #expect(r.contains(#""should_prune":true"#), "\(r)")
                let (_, t) = try run(["study", "tell"] + base, stdin: #"{"number": 5, "state": "pruned"}"#)
                #expect(t.contains(#""state":"pruned""#))
                continue
            }
            let (s2, told) = try run(
                ["study", "tell"] + base,
                stdin: #"{"number": \#(k), "value": \#(value), "user_attrs": {"report": "r\#(k).json"}}"#)
            #expect(s2 == 0 && told.contains(#""state":"complete""#), "\(told)")
        }
        let study = try Study.load(name: "ext", storage: url)
        let trials = try study.trials()
        #expect(trials.count == 14 && trials[5].state == .pruned && trials[5].value == 0.5)
        #expect(trials[3].userAttributes["report"] == .string("r3.json"))
        let (s3, best) = try run(["study", "best", "ext", "--storage", url])
        let bestNumber = try study.bestTrial()!.number
        #expect(s3 == 0 && best.contains(#""number" : \#(bestNumber)"#))
        let graph = dir.path + "/Graphs/ext.json"
        let (s4, exported) = try run(["study", "export", "ext", "--storage", url, "--to", graph])
        #expect(s4 == 0, "\(exported)")
        let text = try String(contentsOfFile: graph, encoding: .utf8)
        #expect(text.contains("emotion3d-architecture") && text.contains("\"temporal_size\""))
        let (s5, imp) = try run(["study", "importance", "ext", "--storage", url])
        #expect(s5 == 0 && imp.contains("ped-anova"), "\(imp)")
        // Errors are one line naming the storage and the study; exit status 1.
        let (s6, err) = try run(["study", "best", "nope", "--storage", url])
        #expect(s6 != 0 && err.contains("no study 'nope'") && err.contains(url))
        let (s7, err2) = try run(["study", "tell"] + base, stdin: #"{"number": 3, "value": 1}"#)
        #expect(s7 != 0 && err2.contains("trial 3 of study 'ext' is complete"))
        let (s8, err3) = try run(["study", "tell"] + base, stdin: "not json")
        #expect(s8 != 0 && err3.contains("not a tell request"))
    }

    @Test func importanceFindsTheParameterThatMatters() {
        // Only x matters; y is noise.
        let space = try! SearchSpace([
            Parameter("x", .float(low: 0, high: 1)), Parameter("y", .float(low: 0, high: 1)),
            Parameter("c", .categorical([.string("a"), .string("b")])),
        ])
        let trials = runInMemory(sampler: RandomSampler(seed: 2), space: space, trials: 200) { p in
            abs(p["x"]!.doubleValue! - 0.3)
        }
        let r = pedAnovaImportance(trials: trials, space: space, direction: .minimize)
        #expect(r.normalized["x"]! > 0.8, "\(r.normalized)")
        #expect(abs(r.normalized.values.reduce(0, +) - 1) < 1e-9)
    }
}
