import Foundation

/// Which compiler passes run. Every pass can be switched off to bisect a wrong result, here or
/// through the environment (`EMOTION3D_NO_FUSION=1`, `EMOTION3D_NO_INPLACE=1`). `EMOTION3D_INTERPRETER=1`
/// runs graphs through the reference interpreter instead of a compiled `Program`, for comparison.
public struct CompilerOptions: Sendable, Hashable {
    /// Fuse Conv3D → BatchNorm3D → activation in inference graphs.
    public var fusion: Bool
    /// Let element-wise outputs reuse their input's buffer in the memory plan.
    public var inPlace: Bool

    /// Run through the interpreter (one array per value) rather than a `Program` in the planned arena.
    public var interpreter: Bool
    /// Output bytes above which a cheap convolution (the first layer's) is recomputed in the
    /// backward pass rather than kept (`FusionPass.recomputeBytes`; 0: always).
    public var recomputeAbove: Int

    public init(fusion: Bool = true, inPlace: Bool = true, interpreter: Bool = false, recomputeAbove: Int = FusionPass.recomputeBytes) {
        self.fusion = fusion
        self.inPlace = inPlace
        self.interpreter = interpreter
        self.recomputeAbove = recomputeAbove
    }

    /// Defaults, with passes switched off by environment variables set to `1`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> CompilerOptions {
        CompilerOptions(
            fusion: environment["EMOTION3D_NO_FUSION"] != "1", inPlace: environment["EMOTION3D_NO_INPLACE"] != "1",
            interpreter: environment["EMOTION3D_INTERPRETER"] == "1")
    }
}
