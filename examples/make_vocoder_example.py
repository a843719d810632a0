"""Writes examples/vocoder_upsampler.onnx: a small HiFi-GAN-style upsampler stage
(Conv1d 80->48 k7, LeakyRelu, ConvTranspose1d 48->24 k7 s3 p2 with bias, Tanh), the layer
shape that Core ML computes wrongly on the Neural Engine (hazard H1). Random weights, seed 0.
Run with Debian's python3 (python3-onnx, python3-numpy): /usr/bin/python3 make_vocoder_example.py
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(0)
w1 = (rng.standard_normal((48, 80, 7)) * 0.05).astype(np.float32)
b1 = (rng.standard_normal(48) * 0.1).astype(np.float32)
w2 = (rng.standard_normal((48, 24, 7)) * 0.1).astype(np.float32)
b2 = (rng.standard_normal(24) * 0.5).astype(np.float32)
nodes = [
    helper.make_node("Conv", ["mel", "w1", "b1"], ["h1"], name="conv_pre", kernel_shape=[7], pads=[3, 3]),
    helper.make_node("LeakyRelu", ["h1"], ["h2"], name="act", alpha=0.1),
    helper.make_node("ConvTranspose", ["h2", "w2", "b2"], ["h3"], name="upsample",
                     kernel_shape=[7], strides=[3], pads=[2, 2]),
    helper.make_node("Tanh", ["h3"], ["audio"], name="post"),
]
graph = helper.make_graph(
    nodes, "vocoder_upsampler",
    [helper.make_tensor_value_info("mel", TensorProto.FLOAT, [1, 80, 32])],
    [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, 24, 96])],
    [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="milkit-example")
model.ir_version = 7
onnx.checker.check_model(model)
onnx.save(model, "vocoder_upsampler.onnx")
