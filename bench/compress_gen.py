"""bench/compress_gen.py OUT.onnx [MB]: a synthetic fp32 model for bench/compress timings:
a chain of MatMul + Relu layers with 2048x2048 random weights (Gaussian, a few outliers)
totalling MB megabytes (default 128). Needs numpy and onnx; exits 3 when absent."""
import sys

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as exc:
    print("compress_gen: skipped (%s)" % exc, file=sys.stderr)
    sys.exit(3)

out = sys.argv[1]
mb = int(sys.argv[2]) if len(sys.argv) > 2 else 128
d = 2048
layers = max(1, mb * 1024 * 1024 // (d * d * 4))
rng = np.random.default_rng(1)
nodes, inits, x = [], [], "x"
for i in range(layers):
    w = (rng.standard_normal((d, d)) / np.sqrt(d)).astype(np.float32)
    w.flat[rng.integers(0, d * d, 64)] *= 8
    inits.append(numpy_helper.from_array(w, "w%d" % i))
    nodes.append(helper.make_node("MatMul", [x, "w%d" % i], ["m%d" % i]))
    y = "y" if i == layers - 1 else "r%d" % i
    nodes.append(helper.make_node("Relu", ["m%d" % i], [y]))
    x = y
g = helper.make_graph(nodes, "big", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, d])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, d])], inits)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 7
onnx.save(m, out)
