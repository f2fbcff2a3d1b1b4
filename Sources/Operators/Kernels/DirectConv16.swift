import CKernels
import GraphCore

/// The 16-lane direct forward convolution (`Sources/CKernels/direct_conv16.c`, AVX-512) for
/// stride-1 layers with at most 4 input channels: the first layer, on RGB clips. Each step keeps
/// 16 output channels × 16 positions of a row in 16 registers; per tap one masked load of the
/// input row (padding columns read as 0) feeds 16 FMAs with broadcast weights. vol2col + sgemm
/// spends most of its time copying there: 27 floats per input value for a product of 16–64 rows.
/// Workers (one per core) take contiguous ranges of (sample, output plane) tasks.
struct DirectConv16 {
    let g: ConvGeometry

    /// Nil unless the CPU runs AVX-512 and the geometry is one this kernel computes.
    init?(_ g: ConvGeometry) {
        guard fmaPeakLanes == 16, g.stride == Triple(1), (1...4).contains(g.inChannels), g.output.product > 0,
            g.inChannels * g.kernel.d * g.kernel.h <= Int(EMOTION3D_DIRECT_CONV16_MAX_ROWS), g.kernel.w <= Int(EMOTION3D_DIRECT_CONV16_MAX_WIDTH)
        else { return nil }
        self.g = g
    }

    /// Floats of scratch: the packed weights.
    var scratchFloats: Int { Scratch.floats([(g.outChannels + 15) / 16 * 16 * g.inChannels * g.kernel.product]) }

    /// `y = epilogue(conv(x, w))`; same layouts as `FastConv3D.forward`.
    func forward(
        _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ epilogue: ConvEpilogue,
        scratch given: UnsafeMutableBufferPointer<Float>? = nil
    ) {
        let g = self.g
        Scratch.with(given, floats: scratchFloats) { scratch in
            let packed = scratch.take(scratchFloats)
            emotion3d_direct_conv16_pack(w, epilogue.scale, packed, Int32(g.outChannels), Int32(g.inChannels), Int32(g.kernel.product))
            let shape = emotion3d_conv_shape(
                in_channels: Int32(g.inChannels), out_channels: Int32(g.outChannels), input: g.input.c, output: g.output.c, kernel: g.kernel.c,
                padding: g.padding.c)
            let shared = (y: SendablePointer(y), x: SendableConstPointer(x), packed: SendableConstPointer(UnsafePointer(packed)))
            let bias = epilogue.bias.map { SendableConstPointer($0) }, activation = epilogue.activation
            let outPlane = g.output.h * g.output.w, outVolume = g.output.d * outPlane, cout = g.outChannels
            parallelRanges(g.batch * g.output.d, work: g.multiplyAdds) { tasks in
                withUnsafePointer(to: shape) { shape in
                    emotion3d_direct_conv16_forward(shared.x.base, shared.packed.base, bias?.base, shared.y.base, shape, tasks.lowerBound, tasks.upperBound)
                }
                guard let activation else { return }
                for task in tasks {
                    let n = task / g.output.d, od = task % g.output.d
                    for o in 0..<cout {
                        let plane = shared.y.base + (n * cout + o) * outVolume + od * outPlane
                        applyEpilogue(plane, plane, outPlane, bias: 0, activation)
                    }
                }
            }
        }
    }
}
