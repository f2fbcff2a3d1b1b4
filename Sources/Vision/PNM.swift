import Foundation

/// Binary PGM (P5) and PPM (P6) reading and writing: the format of the committed reference images.
extension GrayImage {
    /// Parses a binary PGM (P5, maxval 255).
    public init(pgm data: [UInt8], path: String = "<memory>") throws {
        let (magic, w, h, offset) = try parsePNMHeader(data, path: path)
        guard magic == "P5", data.count >= offset + w * h else {
            throw VisionError.notMedia(path: path, reason: "expected a binary PGM (P5) of \(w)x\(h)")
        }
        self.init(width: w, height: h, pixels: Array(data[offset..<(offset + w * h)]))
    }

    /// Reads a binary PGM file.
    public init(pgmFile path: String) throws {
        guard let d = FileManager.default.contents(atPath: path) else { throw VisionError.fileNotFound(path: path) }
        try self.init(pgm: [UInt8](d), path: path)
    }

    /// The image as a binary PGM (P5).
    public func pgmData() -> Data {
        var d = Data("P5\n\(width) \(height)\n255\n".utf8)
        d.append(contentsOf: pixels)
        return d
    }
}

extension RGBImage {
    /// Reads a binary PPM (P6, maxval 255) file.
    public init(ppmFile path: String) throws {
        guard let d = FileManager.default.contents(atPath: path) else { throw VisionError.fileNotFound(path: path) }
        let data = [UInt8](d)
        let (magic, w, h, offset) = try parsePNMHeader(data, path: path)
        guard magic == "P6", data.count >= offset + w * h * 3 else {
            throw VisionError.notMedia(path: path, reason: "expected a binary PPM (P6) of \(w)x\(h)")
        }
        self.init(width: w, height: h, pixels: Array(data[offset..<(offset + w * h * 3)]))
    }

    /// The image as a binary PPM (P6).
    public func ppmData() -> Data {
        var d = Data("P6\n\(width) \(height)\n255\n".utf8)
        d.append(contentsOf: pixels)
        return d
    }
}

private func parsePNMHeader(_ data: [UInt8], path: String) throws -> (String, Int, Int, Int) {
    var i = 0
    func token() -> String {
        while i < data.count {
            if data[i] == UInt8(ascii: "#") { while i < data.count && data[i] != 10 { i += 1 } }
            else if data[i] == 32 || data[i] == 10 || data[i] == 13 || data[i] == 9 { i += 1 }
            else { break }
        }
        var s = ""
        while i < data.count, !(data[i] == 32 || data[i] == 10 || data[i] == 13 || data[i] == 9) {
            s.append(Character(UnicodeScalar(data[i]))); i += 1
        }
        return s
    }
    let magic = token()
    guard let w = Int(token()), let h = Int(token()), let maxv = Int(token()), maxv == 255, w > 0, h > 0 else {
        throw VisionError.notMedia(path: path, reason: "bad PNM header")
    }
    return (magic, w, h, i + 1)
}
