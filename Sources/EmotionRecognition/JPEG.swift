import Foundation
import Vision

/// A small baseline JPEG encoder for grey images (one component, 8×8 DCT, Huffman tables optimised for each
/// image). It exists so that tests and the synthetic generator can write Oulu-CASIA-style `.jpeg` frames; they are
/// read back through Vision's FFmpeg decoding like the real dataset's.
public enum JPEGEncoder {
    /// Encodes `image` at `quality` 1...100 (libjpeg's scaling of the example luminance table).
    public static func encode(_ image: GrayImage, quality: Int = 90) throws -> Data {
        guard image.width > 0, image.height > 0, image.width <= 65535, image.height <= 65535 else {
            throw DatasetError.invalidArgument("JPEG: image size \(image.width)x\(image.height) must be 1...65535 on each side")
        }
        let q = max(1, min(100, quality))
        let scale = q < 50 ? 5000 / q : 200 - 2 * q
        let table = exampleLuminance.map { UInt8(max(1, min(255, ($0 * scale + 50) / 100))) }  // natural order

        // 1. quantised coefficients of every block, zig-zag order
        let blocksX = (image.width + 7) / 8, blocksY = (image.height + 7) / 8
        var coefficients = [Int16](repeating: 0, count: blocksX * blocksY * 64)
        var block = [Float](repeating: 0, count: 64)
        var transformed = [Float](repeating: 0, count: 64)
        for by in 0..<blocksY {
            for bx in 0..<blocksX {
                for y in 0..<8 {
                    let sy = min(by * 8 + y, image.height - 1)  // edge replication pads partial blocks
                    for x in 0..<8 {
                        let sx = min(bx * 8 + x, image.width - 1)
                        block[y * 8 + x] = Float(image.pixels[sy * image.width + sx]) - 128
                    }
                }
                forwardDCT(block, into: &transformed)
                let base = (by * blocksX + bx) * 64
                for k in 0..<64 {
                    let natural = zigzag[k]
                    coefficients[base + k] = Int16((transformed[natural] / Float(table[natural])).rounded())
                }
            }
        }

        // 2. symbols, counted to build the two Huffman tables
        var dcCounts = [Int](repeating: 0, count: 256), acCounts = [Int](repeating: 0, count: 256)
        forEachSymbol(coefficients) { isDC, symbol, _, _ in
            if isDC { dcCounts[Int(symbol)] += 1 } else { acCounts[Int(symbol)] += 1 }
        }
        let dc = HuffmanTable(counts: dcCounts), ac = HuffmanTable(counts: acCounts)

        // 3. the file
        var out = [UInt8]()
        out += [0xFF, 0xD8]  // SOI
        out += [0xFF, 0xE0, 0x00, 0x10] + Array("JFIF".utf8) + [0, 1, 1, 0, 0, 1, 0, 1, 0, 0]  // APP0, 1:1 aspect
        out += [0xFF, 0xDB, 0x00, 0x43, 0x00] + zigzag.map { table[$0] }  // DQT, 8-bit table 0
        out += [0xFF, 0xC0, 0x00, 0x0B, 8]  // SOF0
        out.appendBigEndian(UInt16(image.height))
        out.appendBigEndian(UInt16(image.width))
        out += [1, 1, 0x11, 0]  // one component: id 1, 1×1 sampling, table 0
        for (tableClass, huffman) in [(UInt8(0x00), dc), (UInt8(0x10), ac)] {
            out += [0xFF, 0xC4]
            out.appendBigEndian(UInt16(2 + 1 + 16 + huffman.symbols.count))
            out.append(tableClass)
            out += huffman.lengthCounts.map { UInt8($0) }
            out += huffman.symbols
        }
        out += [0xFF, 0xDA, 0x00, 0x08, 1, 1, 0x00, 0, 63, 0]  // SOS: one component, tables 0/0, full spectrum
        var writer = BitWriter()
        forEachSymbol(coefficients) { isDC, symbol, extra, extraBits in
            let table = isDC ? dc : ac
            writer.write(table.codes[Int(symbol)], bits: table.lengths[Int(symbol)])
            if extraBits > 0 { writer.write(extra, bits: extraBits) }
        }
        writer.flush()
        out += writer.bytes
        out += [0xFF, 0xD9]  // EOI
        return Data(out)
    }

    /// Writes `image` as a JPEG file (atomically).
    public static func write(_ image: GrayImage, to path: String, quality: Int = 90) throws {
        try writeAtomically(try encode(image, quality: quality), to: path)
    }

    /// Calls `body(isDC, symbol, extraBits value, extraBits count)` for each Huffman symbol of the scan in order.
    private static func forEachSymbol(_ coefficients: [Int16], _ body: (Bool, UInt8, UInt32, Int) -> Void) {
        var previousDC = 0
        for base in stride(from: 0, to: coefficients.count, by: 64) {
            let dcValue = Int(coefficients[base])
            let (dcSize, dcBits) = magnitudeCategory(dcValue - previousDC)
            previousDC = dcValue
            body(true, UInt8(dcSize), dcBits, dcSize)
            var run = 0
            for k in 1..<64 {
                let value = Int(coefficients[base + k])
                if value == 0 { run += 1; continue }
                while run > 15 { body(false, 0xF0, 0, 0); run -= 16 }  // ZRL: 16 zeros
                let (size, bits) = magnitudeCategory(value)
                body(false, UInt8(run << 4 | size), bits, size)
                run = 0
            }
            if run > 0 { body(false, 0x00, 0, 0) }  // EOB
        }
    }

    /// JPEG's (size, bits) of a value: negative values are sent as value − 1 in `size` bits (ones' complement).
    private static func magnitudeCategory(_ value: Int) -> (Int, UInt32) {
        var size = 0
        var magnitude = abs(value)
        while magnitude > 0 { size += 1; magnitude >>= 1 }
        let bits = value >= 0 ? value : value - 1
        return (size, UInt32(truncatingIfNeeded: bits) & ((1 << UInt32(size)) &- 1))
    }

    /// Separable 8×8 DCT-II with JPEG's normalisation, on level-shifted samples (row-major).
    private static func forwardDCT(_ input: [Float], into output: inout [Float]) {
        var rows = [Float](repeating: 0, count: 64)
        for y in 0..<8 {
            for u in 0..<8 {
                var sum: Float = 0
                for x in 0..<8 { sum += input[y * 8 + x] * cosines[u * 8 + x] }
                rows[y * 8 + u] = sum
            }
        }
        for u in 0..<8 {
            for v in 0..<8 {
                var sum: Float = 0
                for y in 0..<8 { sum += rows[y * 8 + u] * cosines[v * 8 + y] }
                let cu: Float = u == 0 ? 0.70710678 : 1, cv: Float = v == 0 ? 0.70710678 : 1
                output[v * 8 + u] = sum / 4 * cu * cv
            }
        }
    }

    /// cos((2x + 1) u π / 16) at `u * 8 + x`.
    private static let cosines: [Float] = (0..<64).map { i -> Float in
        let x = Double(2 * (i % 8) + 1), u = Double(i / 8)
        return Float(cos(x * u * Double.pi / 16))
    }

    /// Zig-zag position k → natural (row-major) index, by walking the anti-diagonals in alternating directions.
    private static let zigzag: [Int] = {
        var order = [Int]()
        for s in 0..<15 {
            let cells = (0..<8).compactMap { row -> Int? in
                let column = s - row
                return (0..<8).contains(column) ? row * 8 + column : nil
            }
            order += s % 2 == 0 ? cells.reversed() : cells  // even diagonals run bottom-left → top-right
        }
        return order
    }()

    /// The example luminance quantisation table of the JPEG standard (Annex K), natural order.
    private static let exampleLuminance: [Int] = [
        16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
        14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
    ]

    /// A canonical Huffman code built from symbol counts, lengths limited to 16 bits, no all-ones code.
    struct HuffmanTable {
        var lengths = [Int](repeating: 0, count: 256)
        var codes = [UInt32](repeating: 0, count: 256)
        /// Number of codes of each length 1...16 (the DHT "BITS" list).
        var lengthCounts = [Int](repeating: 0, count: 16)
        /// Symbols by increasing code length (the DHT "HUFFVAL" list).
        var symbols = [UInt8]()

        init(counts: [Int]) {
            // A reserved extra symbol (index 256) is strictly the lightest, so it is merged first and gets the
            // last code of the greatest length: the all-ones code JPEG forbids. It is never emitted.
            var weights = counts.map { 2 * $0 } + [1]
            let used = weights.indices.filter { weights[$0] > 0 }
            var lengths = [Int](repeating: 0, count: 257)
            while true {
                lengths = Self.codeLengths(weights: weights, symbols: used)
                if lengths.max()! <= 16 { break }
                // too deep: flatten the distribution and rebuild
                for s in used where s != 256 { weights[s] = max(2, weights[s] / 2) }
            }
            // the reserved symbol must be the (last) longest code: give it the largest length
            let order = used.sorted { (lengths[$0], $0 == 256 ? 1 : 0, $0) < (lengths[$1], $1 == 256 ? 1 : 0, $1) }
            var code: UInt32 = 0
            var currentLength = lengths[order[0]]
            for symbol in order {
                while currentLength < lengths[symbol] { code <<= 1; currentLength += 1 }
                if symbol < 256 {
                    self.lengths[symbol] = lengths[symbol]
                    codes[symbol] = code
                    lengthCounts[lengths[symbol] - 1] += 1
                    symbols.append(UInt8(symbol))
                }
                code += 1
            }
        }

        /// Code lengths of a Huffman tree over `symbols` (merging the two lightest nodes each time).
        static func codeLengths(weights: [Int], symbols: [Int]) -> [Int] {
            var lengths = [Int](repeating: 0, count: weights.count)
            // nodes: (weight, members)
            var nodes: [(Int, [Int])] = symbols.map { (weights[$0], [$0]) }
            while nodes.count > 1 {
                nodes.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1[0] > $1.1[0] }
                let a = nodes.removeLast(), b = nodes.removeLast()
                for s in a.1 + b.1 { lengths[s] += 1 }
                nodes.append((a.0 + b.0, a.1 + b.1))
            }
            return lengths
        }
    }

    /// MSB-first bit packing with JPEG's byte stuffing (0xFF is followed by 0x00) and 1-bit padding.
    struct BitWriter {
        var bytes = [UInt8]()
        var accumulator: UInt32 = 0
        var count = 0

        mutating func write(_ value: UInt32, bits: Int) {
            for i in stride(from: bits - 1, through: 0, by: -1) {
                accumulator = accumulator << 1 | (value >> UInt32(i) & 1)
                count += 1
                if count == 8 { emit() }
            }
        }

        mutating func flush() {
            while count != 0 { accumulator = accumulator << 1 | 1; count += 1; if count == 8 { emit() } }
        }

        private mutating func emit() {
            let byte = UInt8(accumulator & 0xFF)
            bytes.append(byte)
            if byte == 0xFF { bytes.append(0) }
            accumulator = 0
            count = 0
        }
    }
}
