import CZlib
import Foundation
import Vision

/// A small PNG encoder (8-bit grey or RGB, no interlace) on top of zlib: used for the synthetic
/// dataset's frames and for report plots. Decoding goes through Vision's `FrameSource` (FFmpeg).
public enum PNGEncoder {
    /// Encodes `pixels` (row-major, `channels` interleaved bytes per pixel: 1 = grey, 3 = RGB) as a PNG file.
    /// Each row gets the filter (None, Sub, Up, Average, Paeth) with the smallest sum of absolute residuals,
    /// the usual heuristic that keeps files small. `level`: zlib level 0...9.
    public static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8], level: Int = 6) throws -> Data {
        guard width > 0, height > 0, channels == 1 || channels == 3 else {
            throw DatasetError.invalidArgument("PNG: expected a positive size and 1 or 3 channels, got \(width)x\(height)x\(channels)")
        }
        guard pixels.count == width * height * channels else {
            throw DatasetError.invalidArgument("PNG: \(pixels.count) bytes for \(width)x\(height)x\(channels) pixels")
        }
        let stride = width * channels
        var filtered = [UInt8](repeating: 0, count: height * (stride + 1))
        // residuals of the five filters for one row, side by side
        var residuals = [UInt8](repeating: 0, count: 5 * stride)
        pixels.withUnsafeBufferPointer { source in
            residuals.withUnsafeMutableBufferPointer { r in
                filtered.withUnsafeMutableBufferPointer { out in
                    let r = r.baseAddress!
                    for y in 0..<height {
                        let row = source.baseAddress! + y * stride
                        let above = y > 0 ? row - stride : row  // unused when y == 0
                        var costs = (0, 0, 0, 0, 0)
                        for i in 0..<stride {
                            let x = Int(row[i])
                            let a = i >= channels ? Int(row[i - channels]) : 0
                            let b = y > 0 ? Int(above[i]) : 0
                            let c = y > 0 && i >= channels ? Int(above[i - channels]) : 0
                            let r0 = UInt8(truncatingIfNeeded: x)
                            let r1 = UInt8(truncatingIfNeeded: x - a)
                            let r2 = UInt8(truncatingIfNeeded: x - b)
                            let r3 = UInt8(truncatingIfNeeded: x - (a + b) / 2)
                            let r4 = UInt8(truncatingIfNeeded: x - paeth(a, b, c))
                            r[i] = r0; r[stride + i] = r1; r[2 * stride + i] = r2; r[3 * stride + i] = r3; r[4 * stride + i] = r4
                            costs.0 += magnitude(r0); costs.1 += magnitude(r1); costs.2 += magnitude(r2)
                            costs.3 += magnitude(r3); costs.4 += magnitude(r4)
                        }
                        let all = [costs.0, costs.1, costs.2, costs.3, costs.4]
                        let type = all.indices.min { all[$0] < all[$1] }!
                        let offset = y * (stride + 1)
                        out[offset] = UInt8(type)
                        (out.baseAddress! + offset + 1).update(from: r + type * stride, count: stride)
                    }
                }
            }
        }
        var compressedSize = compressBound(uLong(filtered.count))
        var compressed = [UInt8](repeating: 0, count: Int(compressedSize))
        let status = compress2(&compressed, &compressedSize, filtered, uLong(filtered.count), Int32(max(0, min(9, level))))
        guard status == Z_OK else { throw DatasetError.invalidArgument("PNG: zlib compress2 failed with status \(status)") }
        compressed.removeSubrange(Int(compressedSize)...)

        var out = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var header = [UInt8]()
        header.appendBigEndian(UInt32(width))
        header.appendBigEndian(UInt32(height))
        header += [8, channels == 1 ? 0 : 2, 0, 0, 0]  // bit depth, colour type, compression, filter, interlace
        appendChunk("IHDR", header, to: &out)
        appendChunk("IDAT", compressed, to: &out)
        appendChunk("IEND", [], to: &out)
        return out
    }

    /// Writes a grey image as PNG (atomically: temporary file + rename).
    public static func write(_ image: GrayImage, to path: String) throws {
        try writeAtomically(try encode(width: image.width, height: image.height, channels: 1, pixels: image.pixels), to: path)
    }

    /// Writes an RGB image as PNG (atomically).
    public static func write(_ image: RGBImage, to path: String) throws {
        try writeAtomically(try encode(width: image.width, height: image.height, channels: 3, pixels: image.pixels), to: path)
    }

    /// A residual byte read as a signed value, in absolute terms.
    @inline(__always) private static func magnitude(_ r: UInt8) -> Int { r < 128 ? Int(r) : 256 - Int(r) }

    @inline(__always) private static func paeth(_ a: Int, _ b: Int, _ c: Int) -> Int {
        let p = a + b - c
        let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
        if pa <= pb && pa <= pc { return a }
        return pb <= pc ? b : c
    }

    private static func appendChunk(_ type: String, _ body: [UInt8], to out: inout Data) {
        var chunk = [UInt8]()
        chunk.appendBigEndian(UInt32(body.count))
        let typeBytes = Array(type.utf8)
        chunk += typeBytes
        chunk += body
        // the CRC covers the type and the body, not the length
        let crc = (typeBytes + body).withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
        chunk.appendBigEndian(UInt32(truncatingIfNeeded: crc))
        out.append(contentsOf: chunk)
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian(_ value: UInt32) {
        append(UInt8(value >> 24)); append(UInt8((value >> 16) & 0xFF)); append(UInt8((value >> 8) & 0xFF)); append(UInt8(value & 0xFF))
    }
    mutating func appendBigEndian(_ value: UInt16) {
        append(UInt8(value >> 8)); append(UInt8(value & 0xFF))
    }
}
