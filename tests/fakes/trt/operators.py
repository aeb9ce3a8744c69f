"""The ONNX operators each generation's parser imports: the rows marked "Y" in onnx/onnx-tensorrt
docs/operators.md on branches 8.2-GA, 8.6-GA and 10.1-GA (the newest 10.x branch stored; 10.3's
parser is a superset). Restrictions in the table's last column that matter here live in onnx_rules.
"""

OPS_82 = frozenset("""
    Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization Cast Ceil
    Celu Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum DepthToSpace
    DequantizeLinear Div Dropout Einsum Elu Equal Erf Exp Expand EyeLike Flatten Floor Gather
    GatherElements GatherND Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool Greater GreaterOrEqual GRU
    HardSigmoid Identity If ImageScaler InstanceNormalization IsNaN LeakyRelu Less LessOrEqual Log
    LogSoftmax Loop LpNormalization LpPool LRN LSTM MatMul Max MaxPool Mean Min Mul Neg Not Or Pad
    ParametricSoftplus Pow PRelu QuantizeLinear RandomUniform RandomUniformLike Range ReduceL1 ReduceL2
    ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare
    Relu Reshape Resize ReverseSequence RNN Round ScaledTanh Scan Scatter ScatterElements ScatterND Selu
    Shape Sigmoid Sign Sin Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub
    Sum Tan Tanh ThresholdedRelu Tile TopK Transpose Unsqueeze Upsample Where
""".split())

OPS_86 = OPS_82 | frozenset("""
    GridSample GroupNormalization HardSwish IsInf LayerNormalization MeanVarianceNormalization Mod
    NonMaxSuppression NonZero OneHot RandomNormal RandomNormalLike Reciprocal RoiAlign Shrink Trilu Xor
""".split())

OPS_103 = OPS_86 | frozenset("CastLike DeformConv Gelu Hardmax Mish".split())

OPERATORS = (OPS_82, OPS_86, OPS_103)   # by API column (generations.COLUMNS)
