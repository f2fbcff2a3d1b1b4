/// Every operator with its test samples. Adding an operator adds one line here; the test harness
/// gradient-checks every sample, and a completeness test fails for an operator missing here.
public enum OperatorRegistry {
    public static let samples: [String: [OperatorSample]] = [
        "fill": Fill.samples,
        "add": Add.samples,
        "mul": Multiply.samples,
        "affine": Affine.samples,
        "square": Square.samples,
        "rsqrt": Rsqrt.samples,
        "exp": Exp.samples,
        "activation": Activation.samples,
        "activation_gradient": ActivationGradient.samples,
        "scale_by_scalar": ScaleByScalar.samples,
        "sum_of_products": SumOfProducts.samples,
        "conv3d": Conv3D.samples,
        "fused_conv_batchnorm": FusedConvBatchNorm.samples,
        "conv3d_backward_data": Conv3DBackwardData.samples,
        "conv3d_backward_filter": Conv3DBackwardFilter.samples,
        "reduce_to_axis": ReduceToAxis.samples,
        "broadcast_axis": BroadcastAxis.samples,
        "max_pool3d": MaxPool3D.samples,
        "max_pool3d_backward": MaxPool3DBackward.samples,
        "max_pool3d_gather": MaxPool3DGather.samples,
        "avg_pool3d": AvgPool3D.samples,
        "avg_pool3d_backward": AvgPool3DBackward.samples,
        "matmul": MatMul.samples,
        "reshape": Reshape.samples,
        "logsumexp": LogSumExp.samples,
        "weighted_nll": WeightedNLL.samples,
        "weighted_nll_backward": WeightedNLLBackward.samples,
        "dropout_mask": DropoutMask.samples,
    ]
}
