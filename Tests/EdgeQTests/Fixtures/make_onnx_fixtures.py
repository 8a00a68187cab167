#!/usr/bin/env python3
"""Writes the small ONNX models the ONNX importer tests use, into ./onnx next to this script.

For every valid model `<name>.onnx` it also writes `<name>.input.f32` (a seeded random input) and
`<name>.output.f32` (onnxruntime's output for it): raw little-endian float32, NCHW, batch 1. Every valid
model has exactly one input and one output. The `error_*.onnx` models must be rejected by the importer.
The `fuzz_*.onnx` files are not generated here: they are inputs that once crashed the fuzzer
(Tests/fuzz/ONNXFuzz.swift), kept as regression tests.

    pip install onnx onnxruntime numpy
    python3 Tests/EdgeQTests/Fixtures/make_onnx_fixtures.py
"""
import os

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "onnx")
rng = np.random.default_rng(20240601)
INT64_MAX = 2**63 - 1


class Graph:
    """Accumulates nodes and initializers; names are generated unless given."""

    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0

    def fresh(self, prefix):
        self.count += 1
        return f"{prefix}{self.count}"

    def const(self, array, name=None):
        name = name or self.fresh("c")
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, *shape):
        return self.const(rng.normal(0, 0.5, shape).astype(np.float32))

    def node(self, op, inputs, outputs=1, name=None, **attrs):
        name = name if name is not None else self.fresh(op.lower())
        outs = [f"{name}_out{i}" for i in range(outputs)] if isinstance(outputs, int) else outputs
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, **attrs))
        return outs[0] if len(outs) == 1 else outs

    def conv(self, x, cin, cout, k=3, bias=True, group=1, **attrs):
        inputs = [x, self.weight(cout, cin // group, k, k)] + ([self.weight(cout)] if bias else [])
        return self.node("Conv", inputs, group=group, **attrs)

    def model(self, x_shape, y, opset=13, constant_nodes=()):
        graph = helper.make_graph(
            list(constant_nodes) + self.nodes, "fixture",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
            [helper.make_tensor_value_info(y, TensorProto.FLOAT, None)], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name="make_onnx_fixtures")
        # Declare the output's shape as onnxruntime computes it (the importer checks it), and keep the
        # inferred value_info (which the importer must read past).
        session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        (y_value,) = session.run(None, {"x": np.zeros(x_shape, np.float32)})
        model.graph.output[0].CopyFrom(helper.make_tensor_value_info(y, TensorProto.FLOAT, y_value.shape))
        model.graph.value_info.extend(onnx.shape_inference.infer_shapes(model).graph.value_info)
        return model


def save(name, model, reference=None, check=True):
    """Writes the model and, from `reference` (default: the model itself), its input and output."""
    if check:
        onnx.checker.check_model(model, full_check=True)
    path = os.path.join(OUT, name)
    onnx.save(model, path + ".onnx")
    reference = reference or model
    shape = [d.dim_value or 1 for d in reference.graph.input[0].type.tensor_type.shape.dim]
    x = rng.normal(0, 1, shape).astype(np.float32)
    session = onnxruntime.InferenceSession(reference.SerializeToString(), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"x": x})
    x.astype("<f4").tofile(path + ".input.f32")
    np.asarray(y, dtype="<f4").tofile(path + ".output.f32")


def conv_same_upper():
    """auto_pad SAME_UPPER / SAME_LOWER with odd total padding, VALID, no bias, even kernel."""
    g = Graph()
    y = g.conv("x", 3, 8, k=3, bias=False, auto_pad="SAME_UPPER", strides=[2, 2])  # 8x8 -> 4x4, pad 0/1
    y = g.conv(y, 8, 8, k=2, auto_pad="SAME_LOWER")  # 4x4 -> 4x4, pad 1/0
    y = g.conv(y, 8, 6, k=3, auto_pad="SAME_LOWER", strides=[2, 2])  # 4x4 -> 2x2, pad 1/0
    y = g.conv(y, 6, 5, k=2, auto_pad="VALID")  # 2x2 -> 1x1
    save("conv_same_upper", g.model([1, 3, 8, 8], y))


def conv_kinds():
    """Regular, depthwise, grouped and channel-multiplier convolutions with fused activations."""
    g = Graph()
    zero, six = g.const(np.float32(0)), g.const(np.float32(6))
    y = g.node("Relu", [g.conv("x", 4, 8, pads=[1, 1, 1, 1])])  # gemm16 + relu
    y = g.node("Clip", [g.conv(y, 8, 8, group=8, strides=[2, 2], pads=[0, 1, 1, 0]), zero, six])  # dw + relu6
    y = g.node("Sigmoid", [g.conv(y, 8, 6, group=2, dilations=[2, 2], pads=[2, 2, 2, 2])])  # grouped + sigmoid
    y = g.node("HardSwish", [g.conv(y, 6, 20, k=1)])  # 20 channels: a partial 16-block
    y = g.conv(y, 20, 40, group=20, pads=[1, 1, 1, 1])  # channel multiplier 2: plain OHWI
    save("conv_kinds", g.model([1, 4, 8, 8], y, opset=14))


def clip_variants():
    """Clip bounds as inputs, each optional: max only, min only, none, min 0 only (relu)."""
    g = Graph()
    six, low, zero = g.const(np.float32(6)), g.const(np.float32(-0.5)), g.const(np.float32(0))
    x = g.node("Clip", ["x", "", six])  # on the graph input: standalone clip(-inf, 6)
    y = g.node("Clip", [g.conv(x, 3, 8), low])  # fused clip(-0.5, inf)
    y = g.node("Clip", [y])  # no bounds: identity
    a = g.conv(y, 8, 8, k=1)
    y = g.node("Clip", [g.node("Add", [a, y]), zero])  # relu fused into the add
    save("clip_variants", g.model([1, 3, 8, 8], y))


def clip_attributes():
    """Clip(0, 6) given as min/max attributes, the pre-opset-11 form some exporters still write in newer
    opsets (onnxruntime rejects it, so the reference output comes from the same model with input bounds)."""
    g = Graph()
    y = g.node("Clip", [g.conv("x", 3, 8), g.const(np.float32(0)), g.const(np.float32(6))], name="clip")
    reference = g.model([1, 3, 8, 8], g.conv(y, 8, 4, k=1), opset=11)
    model = onnx.ModelProto()
    model.CopyFrom(reference)
    clip = next(n for n in model.graph.node if n.name == "clip")
    del clip.input[1:]
    clip.attribute.extend([helper.make_attribute("min", 0.0), helper.make_attribute("max", 6.0)])
    save("clip_attributes", model, reference=reference, check=False)


def batchnorm():
    """BatchNormalization folded into a conv, and standalone (graph input; conv output used twice)."""
    g = Graph()

    def bn(x, c):
        return g.node("BatchNormalization", [
            x, g.const(rng.uniform(0.5, 1.5, c).astype(np.float32)), g.const(rng.normal(0, 0.2, c).astype(np.float32)),
            g.const(rng.normal(0, 0.3, c).astype(np.float32)), g.const(rng.uniform(0.5, 2, c).astype(np.float32))],
            epsilon=1e-3)
    y = bn("x", 3)  # standalone: mul + add
    y = g.node("Relu", [bn(g.conv(y, 3, 8, bias=False), 8)])  # folded, then relu fused
    shared = g.conv(y, 8, 8, k=1)
    y = g.node("Add", [bn(shared, 8), shared])  # conv output has two consumers: BN stays standalone
    save("batchnorm", g.model([1, 3, 8, 8], y, opset=15))


def split_concat_slice():
    """Split (sizes input, equal parts), Concat, channel Slices with negative/clamped bounds, no-op Slice."""
    g = Graph()
    a, b = g.node("Split", ["x", g.const(np.array([2, 4], np.int64))], outputs=2, axis=1)  # 2 + 4
    c, d = g.node("Split", [b], outputs=2, axis=-3)  # equal parts: 2 + 2
    y = g.node("Concat", [g.conv(a, 2, 4, k=1), d, g.conv(c, 2, 3, pads=[1, 1, 1, 1]), d], axis=1)  # 4 + 2 + 3 + 2 = 11
    y = g.node("Slice", [y, g.const(np.array([1], np.int64)), g.const(np.array([-1], np.int64)),
                         g.const(np.array([1], np.int64))])  # channels 1..<10
    y = g.node("Slice", [y, g.const(np.array([0, 0], np.int64)), g.const(np.array([INT64_MAX, 100], np.int64)),
                         g.const(np.array([2, 3], np.int64))])  # whole H and W: no-op
    y = g.node("Slice", [y, g.const(np.array([-7], np.int64)), g.const(np.array([1000], np.int64)),
                         g.const(np.array([-3], np.int64)), g.const(np.array([1], np.int64))])  # channels 2..<9
    save("split_concat_slice", g.model([1, 6, 8, 8], g.conv(y, 7, 4, k=1)))


def split_attribute_opset11():
    """Opset 11: Split sizes and ReduceMean axes as attributes, Unsqueeze axes attribute."""
    g = Graph()
    a, b = g.node("Split", ["x"], outputs=2, axis=1, split=[1, 3])
    y = g.node("Concat", [b, g.conv(a, 1, 2, k=1)], axis=1)
    y = g.node("ReduceMean", [g.node("Relu", [y])], axes=[2, 3], keepdims=0)  # [1, 5]
    y = g.node("Gemm", [y, g.weight(5, 3), g.weight(3)])
    save("split_attribute_opset11", g.model([1, 4, 8, 8], y, opset=11))


def squeeze_excite():
    """ReduceMean keepdims 1 (GAP) -> 1x1 convs -> Sigmoid gate, Mul by a [1, C, 1, 1] activation."""
    g = Graph()
    x = g.node("Relu", [g.conv("x", 3, 8)])
    gate = g.node("ReduceMean", [x], axes=[-1, -2], keepdims=1)
    gate = g.node("Sigmoid", [g.conv(g.node("Relu", [g.conv(gate, 8, 4, k=1)]), 4, 8, k=1)])
    y = g.node("Mul", [gate, x])  # broadcast operand first: swapped on import
    save("squeeze_excite", g.model([1, 3, 8, 8], y))


def reducemean_matmul():
    """ReduceMean keepdims 0 -> MatMul with a constant -> Add a [M] bias (standalone, rank 2)."""
    g = Graph()
    y = g.node("ReduceMean", [g.conv("x", 4, 6)], axes=[2, 3], keepdims=0)
    y = g.node("MatMul", [y, g.weight(6, 10)])
    y = g.node("Add", [y, g.weight(10)])
    save("reducemean_matmul", g.model([1, 4, 8, 8], y))


def gemm_transb0():
    """GlobalAveragePool -> Flatten -> Gemm transB 0 with alpha, beta, C [1, M] -> Relu -> Gemm transB 1."""
    g = Graph()
    y = g.node("Flatten", [g.node("GlobalAveragePool", [g.conv("x", 4, 12)])])
    y = g.node("Relu", [g.node("Gemm", [y, g.weight(12, 20), g.weight(1, 20)], alpha=0.5, beta=2.0, transB=0)])
    y = g.node("Gemm", [y, g.weight(7, 20)], transB=1)
    save("gemm_transb0", g.model([1, 4, 8, 8], y))


def hard_sigmoid_patterns():
    """torch's hardsigmoid as Add 3 -> Clip 0 6 -> Div 6 and as -> Mul 1/6, x * that (hard-swish),
    and the HardSigmoid operator."""
    g = Graph()
    three, zero, six = g.const(np.float32(3)), g.const(np.float32(0)), g.const(np.float32(6))
    sixth = g.const(np.float32(1 / 6))
    x = g.conv("x", 3, 8)
    gate = g.node("Div", [g.node("Clip", [g.node("Add", [g.conv(x, 8, 8, k=1), three]), zero, six]), six])
    y = g.node("Mul", [x, gate])  # SE-style gate: hard-sigmoid fused into the conv
    h = g.conv(y, 8, 8, k=1)
    swish = g.node("Mul", [h, g.node("Mul", [g.node("Clip", [g.node("Add", [h, three]), zero, six]), sixth])])
    y = g.node("HardSigmoid", [g.conv(swish, 8, 8, k=1)], alpha=0.25, beta=0.4)
    save("hard_sigmoid_patterns", g.model([1, 3, 8, 8], y))


def shape_chain_reshape():
    """torch's x.view(x.size(0), -1) and friends: Shape -> Gather -> Unsqueeze -> Concat -> Reshape,
    integer arithmetic and Cast on the way, a Squeeze of an activation, and a no-op Reshape."""
    g = Graph()
    pooled = g.node("GlobalAveragePool", [g.conv("x", 8, 16)])
    shape = g.node("Shape", [pooled])
    batch = g.node("Unsqueeze", [g.node("Gather", [shape, g.const(np.int64(0))], axis=0), g.const(np.array([0], np.int64))])
    channels = g.node("Gather", [shape, g.const(np.array([1], np.int64))], axis=0)
    channels = g.node("Div", [g.node("Mul", [channels, g.const(np.array([4], np.int64))]), g.const(np.int64(4))])
    channels = g.node("Cast", [g.node("Cast", [channels], to=TensorProto.FLOAT)], to=TensorProto.INT64)
    flat = g.node("Reshape", [pooled, g.node("Concat", [batch, channels], axis=0)])
    y = g.node("Gemm", [flat, g.weight(6, 16)], transB=1)
    same = g.node("Reshape", [y, g.node("Shape", [y])])  # no-op
    squeezed = g.node("Squeeze", [g.node("GlobalAveragePool", ["x"]), g.const(np.array([2, 3], np.int64))])
    y = g.node("Add", [same, g.node("Gemm", [squeezed, g.weight(6, 8)], transB=1)])
    save("shape_chain_reshape", g.model([1, 8, 4, 4], y))


def opset21():
    """Opset 21: ReduceMean axes as input, Split num_outputs, Reshape with allowzero 0."""
    g = Graph()
    a, b = g.node("Split", [g.node("Relu", [g.conv("x", 3, 8)])], outputs=2, axis=1, num_outputs=2)
    y = g.node("Concat", [b, a], axis=1)
    y = g.node("ReduceMean", [y, g.const(np.array([2, 3], np.int64))], keepdims=1)
    y = g.node("Reshape", [y, g.const(np.array([0, -1], np.int64))])
    save("opset21", g.model([1, 3, 8, 8], g.node("Gemm", [y, g.weight(4, 8)], transB=1), opset=21))


def elementwise():
    """Add/Sub/Mul/Div with constants of every broadcast form, constant first operand, two activations."""
    g = Graph()
    y = g.node("Sub", ["x", g.const(np.float32(0.5))])  # scalar: add of -0.5
    y = g.node("Div", [y, g.const(rng.uniform(1, 2, (4, 1, 1)).astype(np.float32))])  # per channel: mul by 1/c
    y = g.node("Mul", [g.const(rng.normal(0, 1, (1, 4, 8, 8)).astype(np.float32)), y])  # full shape, constant first
    y = g.node("Add", [y, g.const(rng.normal(0, 1, (1, 1, 8, 1)).astype(np.float32))])  # varies along H: materialized
    c = g.conv(y, 4, 4, pads=[1, 1, 1, 1])
    y = g.node("Mul", [g.node("Add", [c, y]), c])
    save("elementwise", g.model([1, 4, 8, 8], g.node("Add", [g.const(np.float32(1)), y])))


def aliases():
    """Identity, Dropout (inference), Cast to float of an activation, Constant value_float and value_ints."""
    g = Graph()
    scale = helper.make_node("Constant", [], ["scale"], name="scale", value_float=2.0)
    shape = helper.make_node("Constant", [], ["shape"], name="shape", value_ints=[1, -1])
    y = g.node("Dropout", [g.node("Identity", [g.conv("x", 3, 4)])])
    y = g.node("Mul", [g.node("Cast", [y], to=TensorProto.FLOAT), "scale"])
    y = g.node("Reshape", [g.node("GlobalAveragePool", [y]), "shape"])
    save("aliases", g.model([1, 3, 8, 8], y, constant_nodes=[scale, shape]))


def errors():
    """Models the importer must reject, with the reason in the file name."""
    g = Graph()
    y = g.node("MaxPool", [g.conv("x", 3, 4)], name="pool", kernel_shape=[2, 2])
    onnx.save(g.model([1, 3, 8, 8], y), os.path.join(OUT, "error_unsupported_op.onnx"))

    g = Graph()
    y = g.node("Concat", [g.conv("x", 3, 4), g.conv("x", 3, 4)], name="concat_h", axis=2)
    onnx.save(g.model([1, 3, 8, 8], y), os.path.join(OUT, "error_concat_axis2.onnx"))

    g = Graph()
    y = g.node("Reshape", [g.conv("x", 3, 4), g.const(np.array([1, -1], np.int64))], name="flatten_hw")
    onnx.save(g.model([1, 3, 8, 8], y), os.path.join(OUT, "error_reshape_reorders.onnx"))

    g = Graph()
    onnx.save(g.model([1, 3, 8, 8], g.conv("x", 3, 4), opset=22), os.path.join(OUT, "error_opset22.onnx"))

    g = Graph()
    model = g.model([1, 3, 8, 8], g.node("Relu", [g.conv("x", 3, 4)], name="relu"))
    model.graph.node[1].input[0] = "missing"
    onnx.save(model, os.path.join(OUT, "error_unknown_tensor.onnx"))

    g = Graph()
    model = g.model([1, 3, 8, 8], g.conv("x", 3, 4, name="conv"))
    group = next(a for a in model.graph.node[0].attribute if a.name == "group")
    group.CopyFrom(helper.make_attribute("group", 1.0))
    onnx.save(model, os.path.join(OUT, "error_attribute_type.onnx"))

    g = Graph()
    model = g.model([1, 3, 8, 8], g.conv("x", 3, 4, name="conv"))
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 5
    onnx.save(model, os.path.join(OUT, "error_conv_channels.onnx"))

    g = Graph()
    model = g.model([1, 3, 8, 8], g.conv("x", 3, 4))
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "height"
    onnx.save(model, os.path.join(OUT, "error_dynamic_height.onnx"))

    # External data: the conv weight lives in a file next to the model (not shipped; import must fail first).
    g = Graph()
    model = g.model([1, 3, 8, 8], g.conv("x", 3, 4))
    weight = model.graph.initializer[0]
    weight.data_location = TensorProto.EXTERNAL
    weight.ClearField("raw_data")
    for key, value in [("location", "weights.bin"), ("offset", "0"), ("length", str(4 * 4 * 3 * 3 * 3))]:
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    onnx.save(model, os.path.join(OUT, "error_external_data.onnx"), save_as_external_data=False)

    with open(os.path.join(OUT, "conv_kinds.onnx"), "rb") as f:
        data = f.read()
    with open(os.path.join(OUT, "error_truncated.onnx"), "wb") as f:
        f.write(data[: len(data) * 2 // 3])


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for make in [conv_same_upper, conv_kinds, clip_variants, clip_attributes, batchnorm, split_concat_slice,
                 split_attribute_opset11, squeeze_excite, reducemean_matmul, gemm_transb0, hard_sigmoid_patterns,
                 shape_chain_reshape, opset21, elementwise, aliases, errors]:
        make()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"{len(os.listdir(OUT))} files, {total} bytes in {OUT}")
