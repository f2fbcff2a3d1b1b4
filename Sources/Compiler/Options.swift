import Foundation

/// Which compiler passes run. Every pass can be switched off to bisect a wrong result, here or
/// through the environment (`EMOTION3D_NO_FUSION=1`, `EMOTION3D_NO_INPLACE=1`).
public struct CompilerOptions: Sendable, Hashable {
    /// Fuse Conv3D → BatchNorm3D → activation in inference graphs.
    public var fusion: Bool
    /// Let element-wise outputs reuse their input's buffer in the memory plan.
    public var inPlace: Bool

    public init(fusion: Bool = true, inPlace: Bool = true) {
        self.fusion = fusion
        self.inPlace = inPlace
    }

    /// Defaults, with passes switched off by environment variables set to `1`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> CompilerOptions {
        CompilerOptions(fusion: environment["EMOTION3D_NO_FUSION"] != "1", inPlace: environment["EMOTION3D_NO_INPLACE"] != "1")
    }
}
