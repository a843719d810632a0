#!/usr/bin/python3
"""Regenerates the coremltools-written packages the hazard tests read (issue 10, item 6):
ln_fp16x_fp32eps (iOS17 layer_norm, fp16 x, fp32 gamma/beta/epsilon 1e-12), instance_norm_5d
(instance_norm on a rank-5 x, H32), inverse_default_eps
(inverse with coremltools' materialized epsilon 1e-4), enum_relu / enum_layer_norm (enumerated
input shapes without / with layer_norm).
Usage: PYTHONPATH=/work/ct /usr/bin/python3 tests/data/ct/make_packages.py tests/data/ct"""
import os
import sys

import numpy as np
import coremltools as ct
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil import get_new_symbol, types

out = sys.argv[1]
IOS17 = ct.target.iOS17


def save(prog, name, precision=ct.precision.FLOAT32, **kw):
    m = ct.convert(prog, convert_to="mlprogram", minimum_deployment_target=IOS17,
                   compute_precision=precision, pass_pipeline=ct.PassPipeline.EMPTY, **kw)
    m.save(os.path.join(out, name + ".mlpackage"))


@mb.program(input_specs=[mb.TensorSpec(shape=(2, 8), dtype=types.fp16)], opset_version=IOS17)
def ln(x):
    g = np.linspace(0.5, 1.2, 8).astype(np.float32)
    b = np.linspace(-0.3, 0.4, 8).astype(np.float32)
    return mb.layer_norm(x=x, axes=[-1], gamma=g, beta=b, epsilon=np.float32(1e-12), name="ln")


@mb.program(input_specs=[mb.TensorSpec(shape=(1, 2, 3, 4, 5), dtype=types.fp32)],
            opset_version=IOS17)
def inorm(x):
    g = np.array([0.5, 1.5], dtype=np.float32)
    b = np.array([-0.25, 0.75], dtype=np.float32)
    return mb.instance_norm(x=x, gamma=g, beta=b, epsilon=np.float32(1e-5), name="inorm")


@mb.program(input_specs=[mb.TensorSpec(shape=(2, 8), dtype=types.fp32)], opset_version=IOS17)
def inv(x):
    return mb.inverse(x=x, name="inv")


def enum_prog(with_ln):
    s = get_new_symbol()

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4, s), dtype=types.fp32)],
                opset_version=IOS17)
    def p(x):
        y = mb.relu(x=x, name="r")
        if with_ln:
            y = mb.layer_norm(x=y, axes=[1], epsilon=np.float32(1e-5), name="ln")
        return y
    return p


save(ln, "ln_fp16x_fp32eps")
save(inorm, "instance_norm_5d")
save(inv, "inverse_default_eps")
shape = ct.EnumeratedShapes(shapes=[[1, 4, 8], [1, 4, 16]], default=[1, 4, 8])
for name, with_ln in (("enum_relu", False), ("enum_layer_norm", True)):
    save(enum_prog(with_ln), name, ct.precision.FLOAT16, inputs=[ct.TensorType(name="x", shape=shape)])
