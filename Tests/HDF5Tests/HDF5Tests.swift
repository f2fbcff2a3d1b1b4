import Foundation
import HDF5
import Testing

@Suite("HDF5 files")
struct HDF5Tests {
    let folder: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("e3d-hdf5-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    @Test("datasets, groups and attributes round-trip")
    func roundTrip() throws {
        let path = folder.appendingPathComponent("round.h5").path
        do {
            let file = try HDF5File.create(path)
            let root = file.root
            try root.write("params/features.0.weight", [Float](stride(from: 0, to: 24, by: 1)), shape: [2, 3, 4])
            try root.write("scalar", [Double(3.5)], shape: [])
            try root.write("labels", [Int64(1), 5, 2], shape: [3])
            try root.setAttribute("architecture", "{\"name\": \"é3d\"}")
            try root.setAttribute("format_version", [Int64(1)])
            try file.flush()
        }
        let root = try HDF5File.open(path).root
        let weights = try root.read("params/features.0.weight", as: Float.self)
        #expect(weights.shape == [2, 3, 4])
        #expect(weights.values[23] == 23)
        #expect(try root.read("scalar", as: Double.self).shape == [])
        #expect(try root.read("labels", as: Float.self).values == [1, 5, 2])  // converted by HDF5
        #expect(try root.stringAttribute("architecture") == "{\"name\": \"é3d\"}")
        #expect(try root.numericAttribute("format_version", as: Int64.self) == [1])
        #expect(root.memberNames() == ["labels", "params", "scalar"])
        #expect(root.isGroup("params") && !root.isGroup("scalar"))
        #expect(try root.group("params").memberNames() == ["features.0.weight"])
    }

    @Test("a missing file, a non-HDF5 file and a truncated file give errors naming the file")
    func badFiles() throws {
        let missing = folder.appendingPathComponent("missing.h5").path
        #expect(throws: HDF5Error.fileNotFound(missing)) { try HDF5File.open(missing) }

        let text = folder.appendingPathComponent("text.h5").path
        try "not hdf5".write(toFile: text, atomically: true, encoding: .utf8)
        #expect(throws: HDF5Error.notHDF5(text)) { try HDF5File.open(text) }

        let good = folder.appendingPathComponent("good.h5").path
        do {
            let file = try HDF5File.create(good)
            try file.root.write("big", [Float](repeating: 1, count: 100_000), shape: [100_000])
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: good))
        let truncated = folder.appendingPathComponent("truncated.h5").path
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: truncated))
        #expect {
            let file = try HDF5File.open(truncated)
            _ = try file.root.read("big", as: Float.self)
        } throws: { error in
            "\(error)".contains(truncated)
        }
    }

    @Test("a missing dataset or a group read as a dataset names the object")
    func badObjects() throws {
        let path = folder.appendingPathComponent("objects.h5").path
        do { try HDF5File.create(path).root.write("group/data", [Float(1)], shape: [1]) }
        let root = try HDF5File.open(path).root
        #expect { try root.read("nothing", as: Float.self) } throws: { "\($0)".contains("/nothing") }
        #expect { try root.read("group", as: Float.self) } throws: { "\($0)".contains("/group") && "\($0)".contains("dataset") }
        #expect { try root.stringAttribute("none") } throws: { "\($0)".contains("none") }
    }
}
