#!/usr/bin/env python3
# Writes the two coremltools-made fixtures under tests/data/: a stateful iOS18 package (an fp16
# running-sum accumulator and a KV-cache-like state written at an offset by slice_update) and
# a two-function package (prefill/decode sharing one linear weight). Reference only; run with
#   PYTHONPATH=/work/ct /usr/bin/python3 scripts/gen_state_multifunction.py tests/data
import os, shutil, sys, tempfile
import numpy as np
import coremltools as ct
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil import types

out = sys.argv[1] if len(sys.argv) > 1 else "tests/data"

@mb.program(input_specs=[mb.TensorSpec((1, 4), dtype=types.fp16),
                         mb.TensorSpec((1,), dtype=types.int32),
                         mb.StateTensorSpec((1, 4), dtype=types.fp16),
                         mb.StateTensorSpec((1, 8, 4), dtype=types.fp16)],
            opset_version=ct.target.iOS18)
def stateful(x, pos, acc, cache):
    a = mb.read_state(input=acc, name="acc_old")
    s = mb.add(x=a, y=x, name="acc_new")
    s = mb.coreml_update_state(state=acc, value=s, name="sum")
    c = mb.read_state(input=cache, name="cache_old")
    z = mb.const(val=np.zeros((1,), dtype=np.int32), name="zero")
    b = mb.concat(values=[z, pos, z], axis=0, name="begin")
    e = mb.add(x=b, y=np.array([1, 1, 4], dtype=np.int32), name="end")
    row = mb.expand_dims(x=x, axes=[1], name="row")
    c = mb.slice_update(x=c, update=row, begin=b, end=e, name="cache_new")
    c = mb.coreml_update_state(state=cache, value=c, name="cache_out")
    tot = mb.reduce_sum(x=c, axes=[1], keep_dims=False, name="total")
    return s, tot

m = ct.convert(stateful, minimum_deployment_target=ct.target.iOS18, skip_model_load=True,
               compute_precision=ct.precision.FLOAT16)
m.save(os.path.join(out, "ct_stateful_ios18.mlpackage"))

w = (np.arange(32, dtype=np.float32).reshape(8, 4) / 16.0 - 1.0)
bias = np.linspace(-1, 1, 8).astype(np.float32)

def linear_prog(seq):
    @mb.program(input_specs=[mb.TensorSpec((1, seq, 4), dtype=types.fp32)],
                opset_version=ct.target.iOS18)
    def prog(x):
        return mb.relu(x=mb.linear(x=x, weight=w, bias=bias, name="lin"), name="y")
    return prog

tmp = tempfile.mkdtemp()
paths = []
for name, seq in (("prefill", 3), ("decode", 1)):
    mm = ct.convert(linear_prog(seq), minimum_deployment_target=ct.target.iOS18,
                    skip_model_load=True, compute_precision=ct.precision.FLOAT32)
    p = os.path.join(tmp, name + ".mlpackage")
    mm.save(p)
    paths.append((name, p))
desc = ct.utils.MultiFunctionDescriptor()
for name, p in paths:
    desc.add_function(p, src_function_name="main", target_function_name=name)
desc.default_function_name = "decode"
ct.utils.save_multifunction(desc, os.path.join(out, "ct_multifunction_ios18.mlpackage"))
shutil.rmtree(tmp)
