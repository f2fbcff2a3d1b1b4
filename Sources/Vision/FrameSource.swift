import CFFmpeg
import Foundation

/// Decoded frames of one sequence, oldest first.
public struct DecodedFrames: Sendable {
    /// Grey frames (colour input is converted with OpenCV's RGB→grey weights).
    public var gray: [GrayImage]
    /// Colour frames (interleaved RGB) when asked for and the source is colour; otherwise empty.
    public var rgb: [RGBImage]
    /// True when the source stores colour (a pixel format with chroma), false for grey sources.
    public var sourceIsColor: Bool
    /// Frames decoded in total (may exceed `gray.count` when only the last frames were kept).
    public var totalFrames: Int
}

/// A video file (mp4, avi, mov, mkv…; any codec FFmpeg decodes: H.264, HEVC, MPEG-4…) or a folder of
/// PNG/JPEG frames (CK+ `S005/001/S005_001_00000001.png`, Oulu-CASIA `P001/Anger/000.jpeg`), read through
/// FFmpeg's libraries. Frame counts come from decoding, never from the container header.
public struct FrameSource: Sendable {
    public enum Kind: Sendable, Equatable {
        case video
        /// Image files of the folder, sorted by name with numbers compared by value.
        case imageSequence([String])
    }

    /// File extensions taken as frames when the source is a folder.
    public static let imageExtensions: Set<String> = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "pgm", "ppm"]

    public let path: String
    public let kind: Kind

    /// Opens `path` (a file or a folder). Throws `VisionError.fileNotFound`, `.emptyFile`, `.emptySequence`.
    public init(path: String) throws {
        self.path = path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw VisionError.fileNotFound(path: path)
        }
        if isDir.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            let images = names.filter { n in
                !n.hasPrefix(".") && FrameSource.imageExtensions.contains((n as NSString).pathExtension.lowercased())
            }.sorted(by: naturalLess)
            guard !images.isEmpty else { throw VisionError.emptySequence(path: path) }
            kind = .imageSequence(images.map { (path as NSString).appendingPathComponent($0) })
        } else {
            try FrameSource.checkNonEmpty(path)
            kind = .video
        }
    }

    static func checkNonEmpty(_ path: String) throws {
        let attrs = try? FileManager.default.attributesOfItem(atPath: path)
        if let size = attrs?[.size] as? NSNumber, size.intValue == 0 { throw VisionError.emptyFile(path: path) }
    }

    /// Number of frames, by decoding every frame.
    public func frameCount() throws -> Int {
        try decode(keepLast: 0, color: false).totalFrames
    }

    /// Decodes the sequence. `keepLast`: keep only the last N frames (nil keeps all; 0 only counts).
    /// `color`: also return RGB frames when the source is colour.
    public func decode(keepLast: Int? = nil, color: Bool = false) throws -> DecodedFrames {
        switch kind {
        case .video:
            return try decodeMediaFile(path, keepLast: keepLast, color: color)
        case .imageSequence(let files):
            let chosen = keepLast.map { Array(files.suffix($0)) } ?? files
            var out = DecodedFrames(gray: [], rgb: [], sourceIsColor: false, totalFrames: files.count)
            for f in chosen {
                try FrameSource.checkNonEmpty(f)
                let one = try decodeMediaFile(f, keepLast: 1, color: color)
                guard let g = one.gray.last else { throw VisionError.noFrames(path: f) }
                if let first = out.gray.first, first.width != g.width || first.height != g.height {
                    throw VisionError.inconsistentFrameSize(
                        path: f, expected: "\(first.width)x\(first.height)", found: "\(g.width)x\(g.height)")
                }
                out.gray.append(g)
                out.rgb.append(contentsOf: one.rgb)
                out.sourceIsColor = out.sourceIsColor || one.sourceIsColor
            }
            if !color || !out.sourceIsColor { out.rgb = [] }
            return out
        }
    }
}

/// "img2" < "img10": digit runs compare by value, the rest byte-wise.
func naturalLess(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    var i = 0, j = 0
    func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    while i < x.count && j < y.count {
        if isDigit(x[i]) && isDigit(y[j]) {
            var i2 = i, j2 = j
            while i2 < x.count && isDigit(x[i2]) { i2 += 1 }
            while j2 < y.count && isDigit(y[j2]) { j2 += 1 }
            // strip leading zeros, compare lengths then digits
            var ii = i, jj = j
            while ii < i2 - 1 && x[ii] == 48 { ii += 1 }
            while jj < j2 - 1 && y[jj] == 48 { jj += 1 }
            if i2 - ii != j2 - jj { return i2 - ii < j2 - jj }
            for k in 0..<(i2 - ii) where x[ii + k] != y[jj + k] { return x[ii + k] < y[jj + k] }
            if i2 - i != j2 - j { return i2 - i < j2 - j }
            i = i2; j = j2
        } else {
            if x[i] != y[j] { return x[i] < y[j] }
            i += 1; j += 1
        }
    }
    return x.count - i < y.count - j
}

private func ffError(_ code: Int32) -> String {
    var buf = [CChar](repeating: 0, count: 128)
    cffmpeg_strerror(code, &buf, buf.count)
    let bytes = buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}

private func cString(_ p: UnsafePointer<CChar>?) -> String {
    guard let p else { return "?" }
    let n = strlen(p)
    return p.withMemoryRebound(to: UInt8.self, capacity: n) { String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self) }
}

private let quietOnce: Void = { cffmpeg_quiet() }()

/// Grey pixel formats: decoded without a colour conversion.
private func isGrayFormat(_ f: AVPixelFormat) -> Bool {
    switch f {
    case AV_PIX_FMT_GRAY8, AV_PIX_FMT_GRAY16BE, AV_PIX_FMT_GRAY16LE, AV_PIX_FMT_YA8, AV_PIX_FMT_YA16BE,
        AV_PIX_FMT_YA16LE, AV_PIX_FMT_MONOBLACK, AV_PIX_FMT_MONOWHITE, AV_PIX_FMT_GRAY10LE, AV_PIX_FMT_GRAY12LE:
        return true
    default: return false
    }
}

/// Opens one media file with libavformat, decodes its best video stream with libavcodec and converts
/// frames with libswscale (to GRAY8 for grey sources, RGB24 for colour ones).
func decodeMediaFile(_ path: String, keepLast: Int?, color: Bool) throws -> DecodedFrames {
    _ = quietOnce
    guard FileManager.default.fileExists(atPath: path) else { throw VisionError.fileNotFound(path: path) }
    try FrameSource.checkNonEmpty(path)

    var fmt: UnsafeMutablePointer<AVFormatContext>? = nil
    var rc = avformat_open_input(&fmt, path, nil, nil)
    guard rc >= 0, fmt != nil else { throw VisionError.notMedia(path: path, reason: ffError(rc)) }
    defer { avformat_close_input(&fmt) }
    rc = avformat_find_stream_info(fmt, nil)
    guard rc >= 0 else { throw VisionError.notMedia(path: path, reason: ffError(rc)) }

    var decoderPtr: UnsafePointer<AVCodec>? = nil
    let streamIndex = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &decoderPtr, 0)
    if streamIndex == AVERROR_DECODER_NOT_FOUND_value() {
        let st = (0..<Int(fmt!.pointee.nb_streams)).compactMap { fmt!.pointee.streams[$0] }
            .first { $0.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_VIDEO }
        let name = st.map { cString(avcodec_get_name($0.pointee.codecpar.pointee.codec_id)) } ?? "?"
        throw VisionError.unsupportedCodec(path: path, codec: name)
    }
    guard streamIndex >= 0, let decoder = decoderPtr else { throw VisionError.noVideoStream(path: path) }
    let stream = fmt!.pointee.streams[Int(streamIndex)]!

    var ctx = avcodec_alloc_context3(decoder)
    guard ctx != nil else { throw VisionError.notMedia(path: path, reason: "cannot allocate a decoder") }
    defer { avcodec_free_context(&ctx) }
    rc = avcodec_parameters_to_context(ctx, stream.pointee.codecpar)
    guard rc >= 0 else { throw VisionError.notMedia(path: path, reason: ffError(rc)) }
    ctx!.pointee.thread_count = 1  // callers parallelise across sequences
    rc = avcodec_open2(ctx, decoder, nil)
    guard rc >= 0 else {
        throw VisionError.unsupportedCodec(path: path, codec: cString(decoder.pointee.name))
    }

    var packet = av_packet_alloc()
    var frame = av_frame_alloc()
    defer { av_packet_free(&packet); av_frame_free(&frame) }

    var kept: [UnsafeMutablePointer<AVFrame>?] = []  // references to the last frames, converted at the end
    defer { for i in kept.indices { av_frame_free(&kept[i]) } }
    var total = 0
    let limit = keepLast ?? Int.max
    let eagain = cffmpeg_averror_eagain(), eof = cffmpeg_averror_eof()

    func receiveAll() throws {
        while true {
            let r = avcodec_receive_frame(ctx, frame)
            if r == eagain || r == eof { return }
            if r < 0 { throw VisionError.corrupt(path: path, framesDecoded: total, reason: ffError(r)) }
            total += 1
            if limit > 0 {
                let ref = av_frame_alloc()
                av_frame_move_ref(ref, frame)
                kept.append(ref)
                if kept.count > limit { av_frame_free(&kept[0]); kept.removeFirst() }
            } else {
                av_frame_unref(frame)
            }
        }
    }

    var readError: Int32 = 0
    while true {
        let r = av_read_frame(fmt, packet)
        if r < 0 {
            if r != eof { readError = r }
            break
        }
        defer { av_packet_unref(packet) }
        guard packet!.pointee.stream_index == streamIndex else { continue }
        let s = avcodec_send_packet(ctx, packet)
        if s < 0 && s != eagain {
            throw VisionError.corrupt(path: path, framesDecoded: total, reason: ffError(s))
        }
        try receiveAll()
    }
    avcodec_send_packet(ctx, nil)  // flush delayed frames
    try receiveAll()
    if readError != 0 && total == 0 {
        throw VisionError.corrupt(path: path, framesDecoded: total, reason: ffError(readError))
    }
    guard total > 0 else { throw VisionError.noFrames(path: path) }
    if readError != 0 {
        throw VisionError.corrupt(path: path, framesDecoded: total, reason: ffError(readError))
    }
    // Frame counts come from decoding; the header's count only serves to detect a file cut short
    // (demuxers such as AVI's meet a plain end of file where the data stops).
    let declared = Int(stream.pointee.nb_frames)
    if declared > 0 && total < declared - max(2, declared / 10) {
        throw VisionError.corrupt(path: path, framesDecoded: total,
                                  reason: "the container declares \(declared) frames; the file ends early")
    }

    var out = DecodedFrames(gray: [], rgb: [], sourceIsColor: false, totalFrames: total)
    var sws: OpaquePointer? = nil
    defer { if sws != nil { sws_freeContext(sws) } }
    for f in kept {
        let fr = f!.pointee
        let w = Int(fr.width), h = Int(fr.height)
        let srcFmt = AVPixelFormat(rawValue: fr.format)
        let grayIn = isGrayFormat(srcFmt)
        out.sourceIsColor = !grayIn
        let dstFmt = grayIn ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24
        let bpp = grayIn ? 1 : 3
        var buf = [UInt8](repeating: 0, count: w * h * bpp)
        if srcFmt == AV_PIX_FMT_GRAY8 {
            let src = cffmpeg_frame_data(f, 0)!
            let ls = Int(cffmpeg_frame_linesize(f, 0))
            buf.withUnsafeMutableBufferPointer { d in
                for y in 0..<h { (d.baseAddress! + y * w).update(from: src + y * ls, count: w) }
            }
        } else {
            // SWS_BICUBIC as OpenCV's FFmpeg backend; no scaling happens, only the colour conversion.
            sws = sws_getCachedContext(sws, Int32(w), Int32(h), srcFmt, Int32(w), Int32(h), dstFmt,
                                       Int32(SWS_BICUBIC | SWS_ACCURATE_RND), nil, nil, nil)
            guard sws != nil else {
                throw VisionError.corrupt(path: path, framesDecoded: total,
                                          reason: "no conversion from pixel format \(fr.format)")
            }
            try buf.withUnsafeMutableBufferPointer { d in
                var dstData: [UnsafeMutablePointer<UInt8>?] = [d.baseAddress, nil, nil, nil]
                var dstLines: [Int32] = [Int32(w * bpp), 0, 0, 0]
                var srcData: [UnsafePointer<UInt8>?] = (0..<4).map { UnsafePointer(cffmpeg_frame_data(f, Int32($0))) }
                var srcLines: [Int32] = (0..<4).map { cffmpeg_frame_linesize(f, Int32($0)) }
                let r = sws_scale(sws, &srcData, &srcLines, 0, Int32(h), &dstData, &dstLines)
                if r != Int32(h) {
                    throw VisionError.corrupt(path: path, framesDecoded: total, reason: "colour conversion failed")
                }
            }
        }
        if grayIn {
            out.gray.append(GrayImage(width: w, height: h, pixels: buf))
        } else {
            let rgb = RGBImage(width: w, height: h, pixels: buf)
            out.gray.append(rgb.gray())
            if color { out.rgb.append(rgb) }
        }
    }
    return out
}
