import ArgumentParser
import EmotionRecognition
import Foundation

/// Which dataset to read (prepare, search and the main job share these options).
struct DatasetArguments: ParsableArguments {
    enum Kind: String, ExpressibleByArgument, CaseIterable { case ckplus, oulu, folder, synthetic }
    enum CameraChoice: String, ExpressibleByArgument, CaseIterable { case vis, nir }
    enum LightChoice: String, ExpressibleByArgument, CaseIterable { case normal, weak, dark }

    @Option(help: "Dataset: \(Kind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var dataset: Kind = .synthetic

    @Option(help: "Dataset folder (for synthetic: where to write the rendered tree; in memory by default).")
    var root: String?

    // Oulu-CASIA and folder
    @Option(help: "Oulu-CASIA camera: vis or nir.") var camera = CameraChoice.vis
    @Option(help: "Oulu-CASIA illumination: normal (Strong), weak or dark.") var illumination = LightChoice.normal
    @Option(help: "Folder layout: class order, comma-separated (default: label folder names, sorted).") var classes: String?

    // synthetic
    @Option(help: "Synthetic: subjects.") var subjects = 20
    @Option(help: "Synthetic: sequences per subject.") var sequencesPerSubject = 14
    @Option(help: "Synthetic: frame width.") var width = 160
    @Option(help: "Synthetic: frame height.") var height = 120
    @Option(help: "Synthetic: fewest frames per sequence (10...30).") var minFrames = 12
    @Option(help: "Synthetic: most frames per sequence (10...30).") var maxFrames = 18
    @Option(help: "Synthetic: share of unlabelled sequences.") var unlabeled = 0.1
    @Option(help: "Synthetic: layout of the rendered tree (ckplus, oulu, folder).") var layout = "ckplus"
    @Option(help: "Synthetic: seed of the generated set.") var syntheticSeed: UInt64 = 1

    /// The dataset these options describe; errors name the option.
    func source() throws -> DatasetSource {
        func needRoot() throws -> String {
            guard let root else { throw ValidationError("--root is required for --dataset \(dataset.rawValue)") }
            return (root as NSString).standardizingPath
        }
        switch dataset {
        case .ckplus: return .ckPlus(root: try needRoot())
        case .oulu:
            return .ouluCASIA(
                root: try needRoot(), camera: camera == .vis ? .visible : .nearInfrared,
                illumination: illumination == .normal ? .normal : illumination == .weak ? .weak : .dark)
        case .folder:
            let names = classes?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            return .folder(root: try needRoot(), classNames: names)
        case .synthetic:
            var options = SyntheticOptions()
            options.subjects = subjects
            options.sequencesPerSubject = sequencesPerSubject
            options.width = width
            options.height = height
            options.minFrames = minFrames
            options.maxFrames = maxFrames
            options.unlabeledFraction = unlabeled
            options.seed = syntheticSeed
            guard let chosen = SyntheticLayout(rawValue: layout) else {
                throw ValidationError("--layout: expected one of \(SyntheticLayout.allCases.map(\.rawValue).joined(separator: ", ")), got '\(layout)'")
            }
            options.layout = chosen
            do { try options.validate() } catch { throw ValidationError("\(error)") }
            return .synthetic(options: options, root: root.map { ($0 as NSString).standardizingPath })
        }
    }
}
