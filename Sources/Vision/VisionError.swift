import Foundation

/// Every failure of the face pipeline on user input. Descriptions name the file and what was expected.
public enum VisionError: Error, Equatable, CustomStringConvertible {
    /// No file or folder at this path.
    case fileNotFound(path: String)
    /// The file exists but holds zero bytes.
    case emptyFile(path: String)
    /// FFmpeg could not recognise a container or image format (not a video/image, or cut before its header).
    case notMedia(path: String, reason: String)
    /// The container holds no video stream (e.g. an audio file).
    case noVideoStream(path: String)
    /// The codec of the video stream is not available in this FFmpeg build.
    case unsupportedCodec(path: String, codec: String)
    /// Reading or decoding stopped on an error after `framesDecoded` frames (a truncated or corrupt file).
    case corrupt(path: String, framesDecoded: Int, reason: String)
    /// The file was read to its end but no frame could be decoded.
    case noFrames(path: String)
    /// A folder given as an image sequence holds no PNG/JPEG file.
    case emptySequence(path: String)
    /// Frames of one image sequence differ in size.
    case inconsistentFrameSize(path: String, expected: String, found: String)
    /// A cascade XML file that cannot be used.
    case invalidCascade(path: String, reason: String)
    /// No face in any frame of a sequence while the centre-crop fallback is off.
    case noFaceFound(path: String)
    /// An argument outside its documented range.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .fileNotFound(let p): return "\(p): no such file or folder (expected a video file or a folder of PNG/JPEG frames)"
        case .emptyFile(let p): return "\(p): the file is empty (0 bytes); expected a video (mp4, avi, mov) or an image (PNG, JPEG)"
        case .notMedia(let p, let r): return "\(p): not a readable video or image file (\(r)); it may be truncated before its header or be another kind of file"
        case .noVideoStream(let p): return "\(p): the file holds no video stream"
        case .unsupportedCodec(let p, let c): return "\(p): no decoder for codec '\(c)' in this FFmpeg build"
        case .corrupt(let p, let n, let r): return "\(p): truncated or corrupt: decoding failed after \(n) frame(s) (\(r))"
        case .noFrames(let p): return "\(p): no frame could be decoded (the file may be truncated)"
        case .emptySequence(let p): return "\(p): the folder holds no PNG or JPEG frame"
        case .inconsistentFrameSize(let p, let e, let f): return "\(p): frame size \(f) differs from the sequence's \(e)"
        case .invalidCascade(let p, let r): return "\(p): not a usable OpenCV cascade (\(r))"
        case .noFaceFound(let p): return "\(p): no face found in any frame (turn on the centre-crop fallback to keep the sequence)"
        case .invalidArgument(let m): return "invalid argument: \(m)"
        }
    }
}
