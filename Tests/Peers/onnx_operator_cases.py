"""Small ONNX graphs built with onnx.helper, one per operator family, run by onnxruntime.

Writes, for each case, CASE.onnx, CASE.input.bin and CASE.expected.bin (little-endian float32) and a manifest.json
with the shapes, into the directory given as OUT. Distillery's tests load each graph and compare with ORT.
"""
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(7)
cases = []


def const(name, array, raw=True):
    array = np.asarray(array)
    if raw:
        return numpy_helper.from_array(array, name)
    kind = {np.dtype("float32"): TensorProto.FLOAT, np.dtype("int64"): TensorProto.INT64}[array.dtype]
    return helper.make_tensor(name, kind, array.shape, array.flatten().tolist())  # typed fields, not raw_data


def case(name, nodes, input_shape, initializers=(), opset=17):
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch"] + list(input_shape[1:]))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    x = rng.standard_normal(input_shape).astype(np.float32)
    y = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    onnx.save(model, os.path.join(OUT, name + ".onnx"))
    x.tofile(os.path.join(OUT, name + ".input.bin"))
    y.astype(np.float32).tofile(os.path.join(OUT, name + ".expected.bin"))
    cases.append({"name": name, "input_shape": list(x.shape), "output_shape": list(y.shape)})


n = helper.make_node
f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)

case("conv_asymmetric", [n("Conv", ["x", "w", "b"], ["y"], pads=[1, 0, 2, 1], strides=[2, 1], dilations=[1, 2])],
     (2, 3, 9, 8), [const("w", f32(4, 3, 3, 3)), const("b", f32(4), raw=False)])
case("conv_groups_same", [n("Conv", ["x", "w"], ["y"], group=2, auto_pad="SAME_UPPER", strides=[2, 2])],
     (2, 4, 7, 7), [const("w", f32(6, 2, 3, 3))])
case("conv_pointwise", [n("Conv", ["x", "w", "b"], ["y"], kernel_shape=[1, 1])],
     (3, 5, 4, 4), [const("w", f32(2, 5, 1, 1)), const("b", f32(2))])
case("maxpool_ceil", [n("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)],
     (2, 3, 8, 8))
case("avgpool_include_pad", [n("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)],
     (2, 3, 7, 7))
case("avgpool_exclude_pad", [n("AveragePool", ["x"], ["y"], kernel_shape=[2, 3], strides=[1, 2], pads=[0, 1, 1, 1])],
     (2, 2, 6, 7))
case("global_average_pool", [n("GlobalAveragePool", ["x"], ["y"])], (2, 3, 5, 4))
case("batch_norm", [n("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3)], (2, 3, 4, 4),
     [const("s", f32(3)), const("b", f32(3)), const("m", f32(3)), const("v", np.abs(f32(3)) + 0.5)])
case("gemm_transposed", [n("Gemm", ["x", "w", "c"], ["y"], transA=1, alpha=0.5, beta=2.0)], (5, 2),
     [const("w", f32(5, 3)), const("c", f32(1, 3))])
case("matmul", [n("MatMul", ["x", "w"], ["y"])], (2, 3, 4), [const("w", f32(4, 5))])
case("matmul_broadcast", [n("MatMul", ["x", "w"], ["y"])], (2, 1, 3, 4), [const("w", f32(3, 4, 2))])
case("elementwise", [
    n("Add", ["x", "a"], ["t1"]), n("Mul", ["t1", "m"], ["t2"]), n("Sub", ["t2", "s"], ["t3"]), n("Div", ["t3", "d"], ["t4"]),
    n("Sigmoid", ["t4"], ["t5"]), n("Tanh", ["t3"], ["t6"]), n("Add", ["t5", "t6"], ["t7"]), n("Relu", ["t7"], ["y"])],
    (2, 3, 4), [const("a", f32(4)), const("m", f32(3, 1)), const("s", f32(1)), const("d", np.abs(f32(2, 1, 1)) + 1)])
case("softmax_opset11", [n("Softmax", ["x"], ["y"], axis=1)], (2, 3, 4), opset=11)
case("softmax_opset13", [n("Softmax", ["x"], ["y"], axis=1)], (2, 3, 4), opset=13)
case("log_softmax", [n("LogSoftmax", ["x"], ["y"])], (3, 6))
case("reshape_by_shape", [  # PyTorch's x.view(x.size(0), -1)
    n("Shape", ["x"], ["shape"]), n("Gather", ["shape", "zero"], ["batch"], axis=0),
    n("Unsqueeze", ["batch", "axes"], ["batch1"]), n("Concat", ["batch1", "minus_one"], ["target"], axis=0),
    n("Reshape", ["x", "target"], ["y"])],
    (2, 3, 4, 5), [const("zero", np.array(0, dtype=np.int64)), const("axes", np.array([0], dtype=np.int64)),
                   const("minus_one", np.array([-1], dtype=np.int64), raw=False)], opset=13)
case("unsqueeze_opset11", [
    n("Unsqueeze", ["x"], ["u"], axes=[1]), n("Transpose", ["u"], ["t"], perm=[0, 2, 3, 1, 4]),
    n("Squeeze", ["t"], ["s"], axes=[3]), n("Flatten", ["s"], ["y"], axis=2)], (2, 3, 4, 5), opset=11)
case("concat_constant", [
    n("Constant", [], ["c"], value=numpy_helper.from_array(f32(1, 2, 4), "c")), n("Identity", ["x"], ["i"]),
    n("Dropout", ["i"], ["d"]), n("Concat", ["d", "c", "x"], ["y"], axis=1)], (1, 3, 4))
case("clip_leaky_cast", [
    n("Clip", ["x", "lo", "hi"], ["c"]), n("LeakyRelu", ["c"], ["l"], alpha=0.2), n("Mul", ["l", "ten"], ["m"]),
    n("Cast", ["m"], ["i"], to=TensorProto.INT64), n("Cast", ["i"], ["y"], to=TensorProto.FLOAT)],
    (2, 8), [const("lo", np.array(-1.5, dtype=np.float32)), const("hi", np.array(0.75, dtype=np.float32)),
             const("ten", np.array(10, dtype=np.float32))])
case("transpose_default", [n("Transpose", ["x"], ["t"]), n("Gather", ["t", "idx"], ["y"], axis=1)], (2, 3, 4),
     [const("idx", np.array([[2, -1], [0, 1]], dtype=np.int64))])

case("quantize_per_axis", [
    n("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1), n("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1)],
    (2, 3, 4), [const("s", np.array([0.01, 0.02, 0.05], dtype=np.float32)), const("z", np.array([128, 0, 10], dtype=np.uint8))], opset=13)
case("quantize_int8", [
    n("QuantizeLinear", ["x", "s", "z"], ["q"]), n("DequantizeLinear", ["q", "s", "z"], ["d"]),
    n("DequantizeLinear", ["w", "ws", "wz"], ["wd"], axis=1), n("MatMul", ["d", "wd"], ["y"])],
    (3, 4), [const("s", np.array(0.02, dtype=np.float32)), const("z", np.array(-3, dtype=np.int8)),
             const("w", rng.integers(-127, 128, (4, 2)).astype(np.int8)), const("ws", np.array([0.1, 0.2], dtype=np.float32)),
             const("wz", np.zeros(2, dtype=np.int8))], opset=13)

# What PyTorch's dynamo exporter emits for pooling by mean, nn.LayerNorm, GELU and the hard activations.
case("reduce_mean_axes_attribute", [n("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=1)], (2, 3, 4, 5))
case("reduce_mean_axes_input", [n("ReduceMean", ["x", "axes"], ["y"], keepdims=0)], (2, 3, 4, 5),
     [const("axes", np.array([-1, 1], dtype=np.int64))], opset=18)
case("reduce_sum_all", [n("ReduceSum", ["x"], ["y"], keepdims=0)], (3, 4), opset=13)
case("reduce_family", [
    n("ReduceMax", ["x"], ["a"], axes=[1]), n("ReduceMin", ["x"], ["b"], axes=[1]), n("ReduceL2", ["x"], ["c"], axes=[2]),
    n("ReduceL1", ["x"], ["d"], axes=[2]), n("ReduceSumSquare", ["x"], ["e"], axes=[0]), n("ReduceLogSumExp", ["x"], ["f"], axes=[1]),
    n("ReduceProd", ["x"], ["g"], axes=[2], keepdims=0),
    n("Add", ["a", "b"], ["ab"]), n("Add", ["c", "d"], ["cd"]), n("Add", ["ab", "cd"], ["abcd"]), n("Add", ["abcd", "e"], ["t"]),
    n("Add", ["t", "f"], ["t2"]), n("Unsqueeze", ["g", "two"], ["g2"]), n("Add", ["t2", "g2"], ["y"])], (2, 3, 4),
    [const("two", np.array([2], dtype=np.int64))])
case("layer_norm_last_axis", [n("LayerNormalization", ["x", "s", "b"], ["y"], epsilon=1e-3)], (2, 3, 6),
     [const("s", f32(6)), const("b", f32(6))])
case("layer_norm_two_axes_no_bias", [n("LayerNormalization", ["x", "s"], ["y"], axis=1)], (2, 3, 4), [const("s", f32(3, 4))])
case("layer_norm_statistics", [n("LayerNormalization", ["x", "s"], ["n", "mean", "inv"], axis=-1),
                               n("Mul", ["mean", "inv"], ["m"]), n("Add", ["n", "m"], ["y"])], (2, 5), [const("s", f32(5))])
case("gelu_exact", [n("Gelu", ["x"], ["y"])], (2, 7), opset=20)
case("gelu_tanh", [n("Gelu", ["x"], ["y"], approximate="tanh")], (2, 7), opset=20)
case("gelu_by_erf", [  # the form older exporters write: 0.5 x (1 + erf(x / sqrt 2))
    n("Div", ["x", "root2"], ["d"]), n("Erf", ["d"], ["e"]), n("Add", ["e", "one"], ["p"]), n("Mul", ["x", "p"], ["m"]),
    n("Mul", ["m", "half"], ["y"])], (3, 5),
    [const("root2", np.array(np.sqrt(2), dtype=np.float32)), const("one", np.array(1, dtype=np.float32)),
     const("half", np.array(0.5, dtype=np.float32))])
case("hard_sigmoid_swish", [n("HardSigmoid", ["x"], ["h"], alpha=0.3, beta=0.4), n("HardSwish", ["x"], ["w"]),
                            n("Add", ["h", "w"], ["y"])], (2, 9), opset=14)
case("pow", [n("Mul", ["x", "x"], ["sq"]), n("Pow", ["sq", "half"], ["r"]), n("Pow", ["x", "three"], ["c"]),
             n("Pow", ["x", "two"], ["p"]), n("Add", ["r", "c"], ["t"]), n("Add", ["t", "p"], ["y"])], (2, 6),
     [const("half", np.array(0.5, dtype=np.float32)), const("three", np.array([3], dtype=np.int64)),
      const("two", np.array(2, dtype=np.float32))], opset=15)

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(cases, f)
print(len(cases))
