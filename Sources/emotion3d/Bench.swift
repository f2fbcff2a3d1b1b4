import ArgumentParser
import Compiler
import EmotionRecognition
import Foundation
import GraphCore
import Layers
import Operators

/// Times the paper's network: inference and training per clip at full size and the small
/// configuration, per-layer convolution GFLOP/s against the FMA peak measured in the same run,
/// the share of time per operator, and peak resident memory.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark the paper's network (build with -c release): ms per clip, conv GFLOP/s vs the FMA peak, memory.")

    @Option(help: "Full-size inference batch sizes, comma-separated.")
    var fullInference = "1,4"
    @Option(help: "Full-size training batch sizes, comma-separated (30 takes minutes).")
    var fullTraining = "4"
    @Option(help: "Batch size of the small configuration (48×48, filters / 4, FC 512), inference and training.")
    var smallBatch = 30
    @Option(help: "Timed runs per measurement (after one warm-up run); the fastest counts.")
    var repeats = 2
    @Option(help: "Batch size of the per-layer convolution table (0: skip the table).")
    var layerBatch = 4
    @Option(help: "Network of the per-layer table: full or small.")
    var layerNetwork = "full"
    @Flag(help: "Per-layer table: time every convolution algorithm that applies (and the rules' choice), alternating them over the rounds.")
    var compareAlgorithms = false
    @Flag(help: "Skip the full-size network.")
    var skipFull = false
    @Flag(help: "Skip the small configuration.")
    var skipSmall = false
    @Option(help: "Also write the results as JSON to this file (Tools/bench_reference.py reads it).")
    var json: String?

    struct Row: Codable {
        var network: String, mode: String, batch: Int, msPerClip: Double, arenaMiB: Double, naiveMiB: Double, peakRSSMiB: Double
    }
    struct LayerRow: Codable {
        var layer: String, input: [Int], weight: [Int], forward: Double, backwardData: Double, backwardFilter: Double
    }
    struct Report: Codable {
        var threads: Int, loadAverage: String, fmaPeakOneCore: Double, fmaPeakAllCores: Double
        var fmaLanes = fmaPeakLanes, blasCore = KernelThreads.blasCore
        var rows: [Row] = [], layers: [LayerRow] = [], operatorShares: [String: [String: Double]] = [:]
    }

    func run() throws {
        let threads = ProcessInfo.processInfo.activeProcessorCount
        let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
        print("emotion3d bench — \(threads) threads (OpenBLAS and dispatch), OpenBLAS kernels \(KernelThreads.blasCore), load average \(load)")
        let compiler = CompilerOptions.fromEnvironment()
        print("fusion \(compiler.fusion ? "on" : "off (EMOTION3D_NO_FUSION=1)"), in place \(compiler.inPlace ? "on" : "off (EMOTION3D_NO_INPLACE=1)"), "
            + "engine \(compiler.interpreter ? "interpreter (EMOTION3D_INTERPRETER=1)" : "program in the planned arena")")
        let one = measureFMAPeak(threads: 1), all = measureFMAPeak(threads: threads)
        print(String(format: "FMA peak (FMA loop of %d-lane vectors, this run): %.1f GFLOP/s on 1 core, %.1f GFLOP/s on %d", fmaPeakLanes, one, all, threads))
        var report = Report(threads: threads, loadAverage: load, fmaPeakOneCore: one, fmaPeakAllCores: all)

        func batches(_ text: String) -> [Int] { text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
        var configs: [(String, PaperNetwork, [Int], [Int])] = []
        if !skipSmall { configs.append(("small", .small, [smallBatch], [smallBatch])) }
        if !skipFull { configs.append(("full", PaperNetwork(), batches(fullInference), batches(fullTraining))) }

        print("\nnetwork  mode        batch   ms/clip   arena MiB  naive MiB  peak RSS MiB")
        for (name, network, inferenceBatches, trainingBatches) in configs {
            let model = try network.model()
            for batch in inferenceBatches {
                let built = try model.build(batchSize: batch, mode: .inference)
                let compiled = try GraphCompiler.compile(built.graph, outputs: [built.logits])
                let profile = try time(compiled.graph, compiled.outputs) { feeds(built, network, batch: batch, training: false) }
                report.rows.append(row(name, "inference", batch, profile, compiled.plan))
                report.operatorShares["\(name) inference batch \(batch)"] = profile.perOperator
                printSlowest(profile)
            }
            for batch in trainingBatches {
                let built = try model.build(batchSize: batch, mode: .training, loss: LossOptions())
                let compiled = try GraphCompiler.compileTraining(built.graph, loss: built.loss!, learningRate: 1e-4)
                let profile = try time(compiled.graph, compiled.outputs) {
                    feeds(built, network, batch: batch, training: true)
                }
                report.rows.append(row(name, "training", batch, profile, compiled.plan))
                printPeak(compiled.plan, graph: compiled.graph)
                report.operatorShares["\(name) training batch \(batch)"] = profile.perOperator
                printSlowest(profile)
            }
        }
        for (key, shares) in report.operatorShares.sorted(by: { $0.key < $1.key }) {
            let total = shares.values.reduce(0, +)
            let top = shares.sorted { $0.value > $1.value }.prefix(8)
                .map { String(format: "%@ %.1f%%", $0.key, 100 * $0.value / total) }.joined(separator: ", ")
            print("share of time, \(key): \(top)")
        }

        if layerBatch > 0 && (layerNetwork == "small" || !skipFull) {
            // Measured again: on a shared machine the first measurement may have run under load.
            let again = measureFMAPeak(threads: threads)
            report.fmaPeakAllCores = max(all, again)
            print(String(format: "\nFMA peak measured again: %.1f GFLOP/s on %d (the tables use the larger, %.1f)", again, threads, report.fmaPeakAllCores))
            guard ["full", "small"].contains(layerNetwork) else { throw ValidationError("--layer-network must be full or small, got \(layerNetwork)") }
            report.layers = try layerTable(layerNetwork == "small" ? .small : PaperNetwork(), name: layerNetwork, batch: layerBatch, peak: report.fmaPeakAllCores)
        }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
        }
    }

    func row(_ network: String, _ mode: String, _ batch: Int, _ profile: Profile, _ plan: MemoryPlan) -> Row {
        let r = Row(
            network: network, mode: mode, batch: batch, msPerClip: profile.seconds * 1000 / Double(batch),
            arenaMiB: Double(plan.arenaBytes) / 1_048_576, naiveMiB: Double(plan.naiveBytes) / 1_048_576, peakRSSMiB: peakRSSMiB())
        print(
            r.network.padding(toLength: 9, withPad: " ", startingAt: 0) + r.mode.padding(toLength: 10, withPad: " ", startingAt: 0)
                + String(format: "%7d %9.1f %11.0f %10.0f %13.0f", r.batch, r.msPerClip, r.arenaMiB, r.naiveMiB, r.peakRSSMiB))
        return r
    }

    /// The nodes that took the most time in the counted run, in ms.
    func printSlowest(_ profile: Profile) {
        let slowest = profile.perNode.sorted { $0.value > $1.value }.prefix(8)
        guard !slowest.isEmpty else { return }
        print("  slowest nodes (ms): " + slowest.map { String(format: "%@ %.1f", $0.key, $0.value * 1000) }.joined(separator: ", "))
    }

    /// What the arena holds at its peak: the largest live buffers and the node running then.
    func printPeak(_ plan: MemoryPlan, graph: Graph) {
        let (node, live) = plan.peak
        let total = live.reduce(0) { $0 + $1.bytes }
        let largest = live.prefix(6).map { String(format: "%@ %.0f", $0.label, Double($0.bytes) / 1_048_576) }.joined(separator: ", ")
        print(String(format: "  arena peak %.0f MiB live while %@ (%@) runs; largest (MiB): %@", Double(total) / 1_048_576,
            graph.nodes[node].scope, graph.nodes[node].op.name, largest))
    }

    func feeds(_ built: BuiltModel, _ network: PaperNetwork, batch: Int, training: Bool) -> [String: Tensor<Float>] {
        var values = built.initialValues(seed: 1)
        var generator = SeededGenerator(seed: 2)
        let shape = built.graph.shape(of: built.input)
        values["input"] = Tensor(shape: shape, scalars: (0..<shape.count).map { _ in generator.nextUnitFloat() })
        if training {
            values["labels"] = Tensor(shape: [batch], scalars: (0..<batch).map { _ in Float(generator.next() % UInt64(network.classes)) })
        }
        return values
    }

    struct Profile {
        var seconds: Double
        var perOperator: [String: Double]
        /// Seconds per node, keyed "layer operator".
        var perNode: [String: Double] = [:]
    }

    /// One warm-up run, then `repeats` timed runs; the fastest counts, with its time per operator.
    /// The graph is compiled once into a `Program` (unless `EMOTION3D_INTERPRETER=1`); runs do not
    /// apply the state updates, so every run does the same work.
    /// The program keeps the parameters in its own buffers: only the inputs of `makeBindings`
    /// stay alive, so peak RSS counts one copy of the weights, as a training run holds.
    func time(_ graph: Graph, _ outputs: [Value], _ makeBindings: () -> [String: Tensor<Float>]) throws -> Profile {
        var best: Profile?
        let options = CompilerOptions.fromEnvironment()
        let program = options.interpreter ? nil : Program(graph: graph, outputs: outputs, seed: 1, options: options)
        var bindings = makeBindings()
        try program?.load(bindings)
        if let fallbacks = program?.fallbackOperators, !fallbacks.isEmpty {
            print("  (allocating fallback, no buffer kernel: \(fallbacks.sorted().joined(separator: ", ")))")
        }
        let inputNames = Set(graph.leaves(of: .input).map(\.name))
        let inputs = bindings.filter { inputNames.contains($0.key) }
        if program != nil { bindings = [:] }
        for attempt in 0...max(repeats, 1) {
            let profile = try program.map { try programRun($0, inputs) } ?? profiledRun(graph, outputs, bindings)
            if attempt > 0 && (best == nil || profile.seconds < best!.seconds) { best = profile }
        }
        return best!
    }

    /// One run of the interpreter, timing each node's kernel.
    func profiledRun(_ graph: Graph, _ outputs: [Value], _ bindings: [String: Tensor<Float>]) throws -> Profile {
        var perOperator: [String: Double] = [:]
        let start = DispatchTime.now().uptimeNanoseconds
        // The updates are computed though not applied (a program plans them with the outputs).
        _ = try Interpreter<Float>(graph: graph).run(outputs + graph.stateUpdates.map(\.value), bindings: bindings, context: EvaluationContext(seed: 1, step: 0)) { node, seconds in
            perOperator[graph.nodes[node].op.name, default: 0] += seconds
        }
        return Profile(seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, perOperator: perOperator)
    }

    /// One run of a compiled program, timing each node's kernel.
    func programRun(_ program: Program, _ inputs: [String: Tensor<Float>]) throws -> Profile {
        var perOperator: [String: Double] = [:], perNode: [String: Double] = [:]
        let graph = program.graph
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try program.run(inputs: inputs, step: 0, applyUpdates: false) { node, seconds in
            perOperator[graph.nodes[node].op.name, default: 0] += seconds
            perNode["\(graph.nodes[node].scope) \(graph.nodes[node].op.name)", default: 0] += seconds
        }
        return Profile(seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, perOperator: perOperator, perNode: perNode)
    }

    /// GFLOP/s of each full-size convolution's forward, backward-data and backward-filter kernels,
    /// counting only multiply-adds that do not fall on padding.
    func layerTable(_ network: PaperNetwork, name: String, batch: Int, peak: Double) throws -> [LayerRow] {
        let built = try network.model().build(batchSize: batch, mode: .training)
        var rows: [LayerRow] = []
        print("\n\(name == "full" ? "full-size" : "small") convolutions at batch \(batch): GFLOP/s on useful work (% of the \(String(format: "%.0f", peak)) GFLOP/s peak)")
        print("layer        input                   weight                forward            backward-data      backward-filter")
        var generator = SeededGenerator(seed: 3)
        func random(_ shape: Shape) -> Tensor<Float> {
            Tensor(shape: shape, scalars: (0..<shape.count).map { _ in generator.nextUnitFloat() - 0.5 })
        }
        for node in built.graph.nodes {
            guard let conv = node.op as? Operators.Conv3D else { continue }
            let x = built.graph.shape(of: node.inputs[0]), w = built.graph.shape(of: node.inputs[1])
            let y = node.outputShapes[0]
            let flops = 2 * Double(conv.usefulMultiplyAdds(input: x, weight: w))
            let xs = random(x), ws = random(w), dys = random(y)
            let rate = { (op: any BufferEvaluable, inputs: [Tensor<Float>], pass: ConvPass) in
                kernelRate(op, inputs, scratch: conv3DScratchCount(input: x, weight: w, stride: conv.stride, padding: conv.padding, pass: pass), flops: flops, timed: max(repeats, 3))
            }
            let passes: [(ConvPass, any BufferEvaluable, [Tensor<Float>])] = [
                (.forward, conv, [xs, ws]),
                (.backwardData, Conv3DBackwardData(stride: conv.stride, padding: conv.padding, inputShape: x), [dys, ws]),
                (.backwardFilter, Conv3DBackwardFilter(stride: conv.stride, padding: conv.padding, weightShape: w), [dys, xs]),
            ]
            let label = "\(node.scope.padding(toLength: 12, withPad: " ", startingAt: 0)) \(x.description.padding(toLength: 23, withPad: " ", startingAt: 0)) \(w.description.padding(toLength: 21, withPad: " ", startingAt: 0))"
            let rates = compareAlgorithms ? compare(label, passes, x: x, w: w, conv: conv, flops: flops) : passes.map { rate($0.1, $0.2, $0.0) }
            if compareAlgorithms {
                rows.append(LayerRow(layer: node.scope, input: x.dims, weight: w.dims, forward: rates[0], backwardData: rates[1], backwardFilter: rates[2]))
                continue
            }
            let (forward, data, filter) = (rates[0], rates[1], rates[2])
            func cell(_ value: Double) -> String { String(format: "%6.1f (%3.0f%%)", value, 100 * value / peak) }
            print("\(label) \(cell(forward))     \(cell(data))     \(cell(filter))")
            rows.append(LayerRow(layer: node.scope, input: x.dims, weight: w.dims, forward: forward, backwardData: data, backwardFilter: filter))
        }
        return rows
    }
}

extension Bench {
    /// One layer's line of `--compare-algorithms`: per pass, the GFLOP/s of every algorithm that
    /// applies and of the rules' choice, each the fastest over `max(repeats, 3)` rounds that
    /// alternate the algorithms, so that a slow phase of a shared machine hits them all. Returns
    /// the rules' rates per pass (the JSON's layer rows).
    func compare(
        _ label: String, _ passes: [(ConvPass, any BufferEvaluable, [Tensor<Float>])], x: Shape, w: Shape, conv: Operators.Conv3D, flops: Double
    ) -> [Double] {
        var cells: [String] = [], ruleRates: [Double] = []
        for (pass, op, inputs) in passes {
            let names: [String?] = [nil] + ConvAlgorithm.available(input: x, weight: w, stride: conv.stride, padding: conv.padding, pass: pass)
            var best = [Double](repeating: 0, count: names.count)
            for _ in 0..<max(repeats, 3) {
                for (index, name) in names.enumerated() {
                    let rate = ConvAlgorithm.measuring(name) {
                        kernelRate(op, inputs, scratch: conv3DScratchCount(input: x, weight: w, stride: conv.stride, padding: conv.padding, pass: pass), flops: flops, timed: 1)
                    }
                    best[index] = max(best[index], rate)
                }
            }
            cells.append(zip(names, best).map { String(format: "%@ %.0f", $0 ?? "rule", $1) }.joined(separator: " "))
            ruleRates.append(best[0])
        }
        print("\(label) forward: \(cells[0]) | data: \(cells[1]) | filter: \(cells[2])")
        return ruleRates
    }
}

/// GFLOP/s of one buffer kernel, as a compiled program runs it: outputs and the planned scratch
/// allocated and touched once, then one warm-up call and `timed` timed calls (the fastest counts).
func kernelRate(_ op: any BufferEvaluable, _ inputs: [Tensor<Float>], scratch: Int, flops: Double, timed: Int) -> Double {
    let shapes = inputs.map(\.shape)
    // Convolution kernels have one output.
    var output = [Float](repeating: 0, count: (try? op.outputShapes(for: shapes))?.first?.count ?? 0)
    var scratchMemory = [Float](repeating: 0, count: max(scratch, 1))
    return withBuffers(inputs) { pointers in
        scratchMemory.withUnsafeMutableBufferPointer { scratchBuffer in
            output.withUnsafeMutableBufferPointer { output in
                op.evaluate(into: [output], pointers, inputShapes: shapes, scratch: scratchBuffer, EvaluationContext())
                var best = Double.infinity
                for _ in 0..<max(timed, 1) {
                    let start = DispatchTime.now().uptimeNanoseconds
                    op.evaluate(into: [output], pointers, inputShapes: shapes, scratch: scratchBuffer, EvaluationContext())
                    best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                }
                return flops / best / 1e9
            }
        }
    }
}

/// Peak resident set size of this process so far, MiB.
func peakRSSMiB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}
