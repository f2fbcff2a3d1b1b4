import Foundation
import HDF5
import TestSupport
import Testing

@Suite("emotion3d command line")
struct CLITests {
    let folder: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("e3d-cli-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    @Test("demo --small trains one step and saves a checkpoint that inspect reads")
    func demoAndInspect() throws {
        let checkpoint = folder.appendingPathComponent("demo.h5").path
        let demo = try Emotion3DCommand.run(["demo", "--small", "--save", checkpoint])
        #expect(demo.status == 0, "\(demo.error)")
        #expect(demo.output.contains("78,029,959") && demo.output.contains("features after group 5: 8192"))
        #expect(demo.output.contains("one training step on a random batch"))
        let inspect = try Emotion3DCommand.run(["inspect", checkpoint])
        #expect(inspect.status == 0)
        #expect(inspect.output.contains("features.0.weight") && inspect.output.contains("[16, 3, 3, 3, 3]"))
    }

    @Test("bad input exits non-zero with a one-line error naming the file")
    func errors() throws {
        let text = folder.appendingPathComponent("notes.txt").path
        try "hello".write(toFile: text, atomically: true, encoding: .utf8)
        for arguments in [["inspect", text], ["inspect", "/no/such.h5"], ["predict", "/no/such.mp4", "--checkpoint", text]] {
            let result = try Emotion3DCommand.run(arguments)
            #expect(result.status != 0)
            #expect(result.error.contains(arguments[1]) || result.error.contains(arguments.last!), "\(arguments): \(result.error)")
            #expect(!result.error.contains("Fatal error"))
        }
    }

    @Test("run writes outputs and gradients under parameter paths")
    func run() throws {
        let input = folder.appendingPathComponent("input.h5").path, output = folder.appendingPathComponent("output.h5").path
        do {
            let count = 2 * 3 * 10 * 32 * 32
            let values: [Float] = (0..<count).map { index in Float(index % 255) / 255 }
            try HDF5File.create(input).root.write("input", values, shape: [2, 3, 10, 32, 32])
        }
        let result = try Emotion3DCommand.run([
            "run", "--architecture", Fixtures.path("interop/architecture.json"), "--weights", Fixtures.path("interop/torch-import.h5"),
            "--input", input, "--output", output, "--gradients",
        ])
        #expect(result.status == 0, "\(result.error)")
        let root = try HDF5File.open(output).root
        #expect(try root.read("output", as: Float.self).shape == [2, 6])
        #expect(try root.read("gradients/input", as: Float.self).shape == [2, 3, 10, 32, 32])
        #expect(try root.read("gradients/features.0.weight", as: Float.self).shape == [2, 3, 3, 3, 3])
    }

    @Test("predict classifies sliding windows of real H.264 and HEVC face videos, and says when there is no face")
    func predict() throws {
        let checkpoint = folder.appendingPathComponent("model.h5").path
        #expect(try Emotion3DCommand.run(["demo", "--small", "--save", checkpoint]).status == 0)
        let strip = folder.appendingPathComponent("strip.png").path
        let result = try Emotion3DCommand.run([
            "predict", Fixtures.path("vision/media/face_h264.mp4"), "--checkpoint", checkpoint, "--stride", "10", "--json", "--strip", strip,
        ])
        let png = try Data(contentsOf: URL(fileURLWithPath: strip))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 5000, "the strip is not a PNG image")
        #expect(result.status == 0, "\(result.error)")
        let json = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as! [String: Any]
        let windows = json["windows"] as! [[String: Any]]
        #expect(json["frames"] as? Int == 30)
        #expect(windows.count == 3 && windows.allSatisfy { $0["face"] as? Bool == true })
        let probabilities = json["probabilities"] as! [String: Double]
        #expect(abs(probabilities.values.reduce(0, +) - 1) < 1e-6)

        // the same face encoded as HEVC in MP4, as phones record
        let hevc = try Emotion3DCommand.run(["predict", Fixtures.path("vision/media/face_hevc.mp4"), "--checkpoint", checkpoint, "--stride", "10", "--json"])
        #expect(hevc.status == 0, "\(hevc.error)")
        let hevcJSON = try JSONSerialization.jsonObject(with: Data(hevc.output.utf8)) as! [String: Any]
        #expect(hevcJSON["frames"] as? Int == 30)
        #expect((hevcJSON["windows"] as! [[String: Any]]).allSatisfy { $0["face"] as? Bool == true })

        let none = try Emotion3DCommand.run(["predict", Fixtures.path("vision/media/tiny_h264.mp4"), "--checkpoint", checkpoint])
        #expect(none.status != 0)
        #expect(none.error.contains("no face found"))
    }
}

@Suite("The main job")
struct MainJobTests {
    /// State and parent of a process from `/proc/<pid>/stat`, or nil when it is gone.
    static func status(_ pid: Int32) -> (state: Character, parent: Int32)? {
        // /proc files report size 0: read them to the end rather than by their size
        guard let handle = FileHandle(forReadingAtPath: "/proc/\(pid)/stat") else { return nil }
        defer { try? handle.close() }
        let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 1, let state = fields[0].first, let parent = Int32(fields[1]) else { return nil }
        return (state, parent)
    }

    @Test("killing reproduce stops its search worker too")
    func interruptStopsWorkers() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("e3d-interrupt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let parent = try Emotion3DCommand.start([
            "reproduce", "--output", "out", "--study", "interrupted", "--subjects", "4", "--sequences-per-subject", "7", "--unlabeled", "0",
            "--trials", "50", "--epochs", "50", "--protocol", "kfold:2", "--quiet",
        ], workingDirectory: folder)
        // The worker is the parent's child process; it starts once the clips are prepared.
        var worker: Int32?
        let deadline = Date().addingTimeInterval(180)
        while worker == nil, Date() < deadline, parent.isRunning {
            sleep(1)
            let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
            worker = pids.first { Self.status($0)?.parent == parent.processIdentifier }
        }
        #expect(worker != nil, "no search worker started")
        // SIGTERM: a test runner may pass its children SIGINT as ignored
        kill(parent.processIdentifier, SIGTERM)
        let gone = Date().addingTimeInterval(20)
        while parent.isRunning, Date() < gone { usleep(100_000) }
        if parent.isRunning { kill(parent.processIdentifier, SIGKILL) }
        parent.waitUntilExit()
        var alive = true
        let stop = Date().addingTimeInterval(15)
        while alive, Date() < stop {
            alive = worker.flatMap { Self.status($0) }.map { $0.state != "Z" } ?? false
            if alive { usleep(200_000) }
        }
        #expect(!alive, "the search worker outlived the interrupted command")
    }

    @Test("reproduce runs the whole pipeline on a tiny synthetic set, writes its outputs, and resumes the study")
    func reproduce() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("e3d-main-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let arguments = [
            "reproduce", "--output", "out", "--study", "tiny", "--subjects", "4", "--sequences-per-subject", "7", "--unlabeled", "0",
            "--trials", "2", "--epochs", "1", "--protocol", "kfold:2", "--threshold", "0", "--quiet",
        ]
        let first = try Emotion3DCommand.run(arguments, workingDirectory: folder)
        #expect(first.status == 0, "\(first.error)")
        for file in ["out/report/report.md", "out/report/report.json", "out/report/search-history.png", "out/report/confusion.png",
                     "out/report/folds.png", "out/report/curves.png", "out/report/configurations.png", "out/tiny-best.h5", "Graphs/tiny-best.json", "out/study.db"] {
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(file).path), "missing \(file)")
        }
        let report = try String(contentsOf: folder.appendingPathComponent("out/report/report.md"), encoding: .utf8)
        #expect(report.contains("best epoch") && report.contains("| temporal_size |"))
        #expect(first.output.contains("2: 2 complete"))
        // Again: the study already has its 2 trials, so none is added.
        let second = try Emotion3DCommand.run(arguments, workingDirectory: folder)
        #expect(second.status == 0, "\(second.error)")
        #expect(second.output.contains("2: 2 complete"))
        let inspect = try Emotion3DCommand.run(["inspect", folder.appendingPathComponent("out/tiny-best.h5").path])
        #expect(inspect.status == 0 && inspect.output.contains("tiny-best"))
    }
}

@Suite("Atomic checkpoints")
struct AtomicCheckpointTests {
    @Test("killing `emotion3d train` with kill -9 in the middle of a save leaves the previous checkpoint intact")
    func killDuringSave() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("e3d-kill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        func file(_ name: String) -> String { folder.appendingPathComponent(name).path }
        let prepare = try Emotion3DCommand.run([
            "prepare", "--dataset", "synthetic", "--subjects", "2", "--sequences-per-subject", "7", "--unlabeled", "0", "--size", "32",
            "--output", file("clips.h5"),
        ])
        #expect(prepare.status == 0, "\(prepare.error)")
        // A big classifier (≈19 MB of weights) makes every save last long enough to be caught mid-write.
        let architecture = try Emotion3DCommand.run([
            "architecture", "--size", "32", "--width-divisor", "8", "--hidden-units", "2048", "--dropout", "0", "--output", file("big.json"),
        ])
        #expect(architecture.status == 0, "\(architecture.error)")
        // train --json: the run as JSON, one entry per epoch.
        let trained = try Emotion3DCommand.run([
            "train", "--clips", file("clips.h5"), "--architecture", file("big.json"), "--checkpoint", file("first.h5"),
            "--epochs", "2", "--batch-size", "14", "--no-augmentation", "--quiet", "--json",
        ])
        #expect(trained.status == 0, "\(trained.error)")
        let run = try JSONSerialization.jsonObject(with: Data(trained.output.utf8)) as? [String: Any]
        #expect((run?["epochs"] as? [Any])?.count == 2 && run?["step"] as? Int == 2)
        try FileManager.default.removeItem(atPath: file("first.h5"))

        /// Waits (≤ 120 s) until `condition` holds, polling every 2 ms.
        func wait(_ condition: () -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline {
                if condition() { return true }
                Thread.sleep(forTimeInterval: 0.002)
            }
            return false
        }
        func savingNow() -> Bool {
            ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).contains { $0.hasPrefix(".model.h5.") && $0.hasSuffix(".tmp") }
        }
        for round in 0..<3 {
            let resuming = FileManager.default.fileExists(atPath: file("model.h5"))
            let process = try Emotion3DCommand.start([
                "train", "--clips", file("clips.h5"), "--architecture", file("big.json"), "--checkpoint", file("model.h5"),
                "--epochs", "1000", "--batch-size", "14", "--learning-rate", "1e-4", "--no-augmentation", "--quiet",
            ] + (resuming ? ["--resume"] : []))
            // Let one save finish, then kill the process while the next one is being written.
            #expect(wait { FileManager.default.fileExists(atPath: file("model.h5")) && !savingNow() }, "round \(round): no first save")
            #expect(wait(savingNow), "round \(round): no second save started")
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let inspect = try Emotion3DCommand.run(["inspect", file("model.h5")])
            #expect(inspect.status == 0, "round \(round): the checkpoint does not load after kill -9 during a save: \(inspect.error)")
            #expect(inspect.output.contains("epoch="), "round \(round): \(inspect.output.prefix(300))")
        }
        // No half-written file is ever read: leftovers of killed saves are temporary files only.
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        #expect(names.filter { $0.hasSuffix(".h5") }.sorted() == ["clips.h5", "model.h5"])
    }
}

@Suite("Experiment files")
struct ExperimentFileTests {
    @Test("--experiment reads options from JSON or flat YAML; the command line wins")
    func experiment() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("e3d-exp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let yaml = folder.appendingPathComponent("a.yaml").path
        try "# a small network\ncommand: architecture\nsize: 32\nwidthDivisor: 8\nhidden_units: 64\nclahe: true\nactivation: \"mish\"\n"
            .write(toFile: yaml, atomically: true, encoding: .utf8)
        let fromYAML = try Emotion3DCommand.run(["--experiment", yaml])
        #expect(fromYAML.status == 0, "\(fromYAML.error)")
        #expect(fromYAML.output.contains("\"clahe\" : true") && fromYAML.output.contains("\"type\" : \"mish\"") && fromYAML.output.contains("32"))

        let json = folder.appendingPathComponent("a.json").path
        try #"{"command": "architecture", "size": 32, "widthDivisor": 8, "hiddenUnits": 64, "temporalSize": 5}"#.write(toFile: json, atomically: true, encoding: .utf8)
        let overridden = try Emotion3DCommand.run(["architecture", "--experiment", json, "--temporal-size", "7"])
        #expect(overridden.status == 0, "\(overridden.error)")
        #expect(overridden.output.contains("\"temporal_size\" : 7"))

        try "size 32\n".write(toFile: yaml, atomically: true, encoding: .utf8)
        let bad = try Emotion3DCommand.run(["architecture", "--experiment", yaml])
        #expect(bad.status != 0 && bad.error.contains("a.yaml:1"))
    }
}
