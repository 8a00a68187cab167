#!/usr/bin/env python3
"""Writes a small binary-trained (XNOR-Net style) ONNX classifier into ./onnx next to this script, as
`binary_net.onnx` with `binary_net.input.f32` (a seeded random input) and `binary_net.output.f32` (onnxruntime's
logits for it): raw little-endian float32, NCHW, batch 1, like the fixtures of make_onnx_fixtures.py.

Every binary convolution is `Sign -> Conv` whose weights are alpha[o] * sign(W) per output channel, followed by
a BatchNormalization (EdgeQ folds it into the per-channel multiplier and bias). The layers cover 3x3 stride 1
and 2 with padding (border outputs), 1x1, channel counts that are not multiples of 64 or of 8, a conv bias, and
a ReLU before a Sign, whose exact zeros ONNX's Sign maps to 0.

Sign is discontinuous at 0: two runtimes whose float rounding differs by one ulp could disagree on a value
within an ulp of 0 and then differ everywhere after it. The input is therefore redrawn until every value that
reaches a Sign is exactly 0 or at least 1e-3 away from it, so that the comparison measures EdgeQ, not luck.

    pip install onnx onnxruntime numpy
    python3 Tests/EdgeQTests/Fixtures/make_binary_model.py
"""
import os

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "onnx")
NAME = "binary_net"
rng = np.random.default_rng(20261130)

nodes, inits, sign_inputs = [], [], []


def const(name, array):
    inits.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
    return name


def batch_norm(x, channels, name):
    const(name + ".gamma", rng.uniform(0.5, 1.5, channels))
    const(name + ".beta", rng.normal(0, 0.3, channels))
    const(name + ".mean", rng.normal(0, 0.5, channels))
    const(name + ".var", rng.uniform(0.5, 2.0, channels))
    nodes.append(helper.make_node(
        "BatchNormalization", [x] + [name + s for s in (".gamma", ".beta", ".mean", ".var")], [name],
        name=name, epsilon=1e-5))
    return name


def conv(x, cin, cout, k, stride, pad, name, weights, bias=False):
    inputs = [x, const(name + ".weight", weights)]
    if bias:
        inputs.append(const(name + ".bias", rng.normal(0, 0.5, cout)))
    nodes.append(helper.make_node(
        "Conv", inputs, [name], name=name, kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4))
    return name


def binary_conv(x, cin, cout, k, stride, pad, name, bias=False):
    """Sign(x) convolved with alpha[o] * sign(W), alpha = mean |W| per output channel (XNOR-Net)."""
    sign = name + ".sign"
    nodes.append(helper.make_node("Sign", [x], [sign], name=sign))
    sign_inputs.append(x)
    w = rng.normal(0, 1, (cout, cin, k, k)).astype(np.float32)
    alpha = np.abs(w).mean(axis=(1, 2, 3), keepdims=True).astype(np.float32)
    return conv(sign, cin, cout, k, stride, pad, name, np.where(w < 0, -alpha, alpha), bias)


x = "x"
h = conv(x, 3, 16, 3, 1, 1, "stem", rng.normal(0, 0.5, (16, 3, 3, 3)))
h = batch_norm(h, 16, "stem.bn")
h = binary_conv(h, 16, 24, 3, 1, 1, "block1", bias=True)
h = batch_norm(h, 24, "block1.bn")
nodes.append(helper.make_node("Relu", [h], ["block1.relu"], name="block1.relu"))
h = binary_conv("block1.relu", 24, 40, 3, 2, 1, "block2")
h = batch_norm(h, 40, "block2.bn")
h = binary_conv(h, 40, 70, 1, 1, 0, "block3")
h = batch_norm(h, 70, "block3.bn")
h = binary_conv(h, 70, 17, 3, 1, 1, "block4")
h = batch_norm(h, 17, "block4.bn")
nodes.append(helper.make_node("GlobalAveragePool", [h], ["pool"], name="pool"))
nodes.append(helper.make_node("Flatten", ["pool"], ["flat"], name="flat", axis=1))
const("fc.weight", rng.normal(0, 0.2, (10, 17)))
const("fc.bias", rng.normal(0, 0.1, 10))
nodes.append(helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1))

shape = [1, 3, 16, 16]
graph = helper.make_graph(
    nodes, NAME, [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_binary_model")
onnx.checker.check_model(model, full_check=True)

# The same graph with every Sign input as an extra output, to check the margin around 0.
probe = onnx.ModelProto()
probe.CopyFrom(model)
for name in sign_inputs:
    probe.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
probe_session = onnxruntime.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
for attempt in range(1000):
    x_value = rng.normal(0, 1, shape).astype(np.float32)
    _, *signed = probe_session.run(None, {"x": x_value})
    if all(np.all((v == 0) | (np.abs(v) >= 1e-3)) for v in signed):
        break
else:
    raise SystemExit("no input keeps every Sign input away from 0")
zeros = sum(int(np.sum(v == 0)) for v in signed)

session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
(logits,) = session.run(None, {"x": x_value})
path = os.path.join(OUT, NAME)
onnx.save(model, path + ".onnx")
x_value.astype("<f4").tofile(path + ".input.f32")
logits.astype("<f4").tofile(path + ".output.f32")
print(f"wrote {path}.onnx (input after {attempt + 1} draws, {zeros} exact zeros into Sign), logits {logits.ravel()}")

# Must be rejected: a Sign feeding a convolution whose weights are not ±alpha per output channel.
w = rng.normal(0, 1, (4, 3, 3, 3)).astype(np.float32)
error = helper.make_model(
    helper.make_graph(
        [helper.make_node("Sign", ["x"], ["s"], name="sign"),
         helper.make_node("Conv", ["s", "w"], ["y"], name="conv", kernel_shape=[3, 3])],
        "error_sign_float_weights", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])], [numpy_helper.from_array(w, "w")]),
    opset_imports=[helper.make_opsetid("", 13)], producer_name="make_binary_model")
onnx.checker.check_model(error, full_check=True)
onnx.save(error, os.path.join(OUT, "error_sign_float_weights.onnx"))
