"""milkit for Python: convert, lint, fix and inspect Core ML ML Programs, and run them on
Linux with milkit's reference CPU interpreter through coremltools' MLModel.predict API.
Pure Python over libmilkit.so (ctypes); NumPy arrays go in and come out without copies when
their dtype and layout already match. Errors raise milkit.Error with milkit's message."""
import ctypes
import json
import os
import threading
from dataclasses import dataclass
from typing import Optional

import numpy as np

from . import _lib
from ._lib import Error, lib

__all__ = ["Error", "Finding", "MLModel", "convert", "fix", "info", "lint", "library_path"]
__version__ = "0.1.0"
Error.__module__ = "milkit"
library_path = _lib.path

_SEVERITY = {0: "info", 1: "warning", 2: "error"}
# MIL DataType codes (milkit.h mk_tensor) <-> NumPy
_CODE_OF = {np.dtype(np.float32): 11, np.dtype(np.int32): 23, np.dtype(np.bool_): 1}
_NP_OF_CODE = {11: np.float32, 10: np.float16, 23: np.int32, 1: np.bool_, 24: np.int64,
               21: np.int8, 31: np.uint8, 12: np.float64}
_NP_OF_NAME = {"fp32": np.float32, "fp16": np.float16, "fp64": np.float64, "int32": np.int32,
               "int64": np.int64, "int8": np.int8, "uint8": np.uint8, "int16": np.int16,
               "uint16": np.uint16, "bool": np.bool_}


def _b(s):
    return None if s is None else os.fsencode(s)


def _s(b):
    return None if b is None else b.decode("utf-8", "replace")


def _shape_str(v):
    if isinstance(v, str):
        return v
    return ",".join(f"{d[0]}..{d[1]}" if isinstance(d, (tuple, list)) else str(int(d))
                    for d in v)


def _convert_options(shapes, binds):
    """mk_convert_options for shapes / binds dicts, and the ctypes arrays it points at."""
    o = _lib.mk_convert_options()
    sh = [_b(f"{k}={_shape_str(v)}") for k, v in (shapes or {}).items()]
    bd = [_b(f"{k}={v}") for k, v in (binds or {}).items()]
    arrays = ((ctypes.c_char_p * max(1, len(sh)))(*sh), (ctypes.c_char_p * max(1, len(bd)))(*bd))
    o.n_shapes, o.shapes, o.n_binds, o.binds = len(sh), arrays[0], len(bd), arrays[1]
    return o, arrays


class _Program:
    """An mk_program (an .onnx model converted in memory with shapes / binds), freed with the
    object."""

    def __init__(self, path, shapes=None, binds=None):
        self.ptr = ctypes.c_void_p()
        err = _lib.mk_err()
        o, keep = _convert_options(shapes, binds)
        _lib.check(lib.mk_model_load(_b(os.fspath(path)), ctypes.byref(o), None,
                                     ctypes.byref(self.ptr), ctypes.byref(err)), err)
        del keep

    def __del__(self):
        if getattr(self, "ptr", None):
            lib.mk_program_free(self.ptr)
            self.ptr = None


def info(path, shapes=None, binds=None) -> dict:
    """`milkit info --json PATH` as a dict: target, inputs/outputs (with shape ranges), op
    histogram, constants and metadata."""
    p = _Program(path, shapes, binds)
    out, err = ctypes.c_void_p(), _lib.mk_err()
    _lib.check(lib.mk_program_info_string(p.ptr, 1, ctypes.byref(out), ctypes.byref(err)), err)
    return json.loads(_lib.take_string(out))


@dataclass(frozen=True)
class Finding:
    """One hazard found by milkit.lint (ids as in docs/hazards.md)."""
    rule: str
    severity: str
    op: Optional[str]
    op_type: Optional[str]
    message: str
    fix: Optional[str]
    function: str = "main"
    block: str = "main"
    op_index: int = -1


def lint(path, shapes=None, binds=None) -> list:
    """Findings of `milkit lint PATH`, in report order."""
    p = _Program(path, shapes, binds)
    f, err = ctypes.c_void_p(), _lib.mk_err()
    _lib.check(lib.mk_lint(p.ptr, None, ctypes.byref(f), ctypes.byref(err)), err)
    try:
        out = []
        for i in range(lib.mk_findings_count(f)):
            x = lib.mk_findings_at(f, i).contents
            op = x.op_index >= 0
            out.append(Finding(_s(x.rule), _SEVERITY.get(x.severity, str(x.severity)),
                               _s(x.op_name) if op else None, _s(x.op_type) if op else None,
                               _s(x.message), _s(x.fix),
                               _s(x.function), _s(x.block), x.op_index))
        return out
    finally:
        lib.mk_findings_free(f)


def fix(src, dst, only=None, skip=None, seed=0) -> dict:
    """`milkit fix SRC -o DST`: rewrite hazards, checked on the interpreter. Returns the fix
    table: {"rows": [{"rule", "pass", "ops_changed", "max_err"}], "verified", "max_err"}."""
    p = _Program(src)
    o = _lib.mk_fix_options()
    o.only, o.skip, o.seed = _b(only), _b(skip), seed
    rep, out, err = _lib.mk_fix_report(), ctypes.c_void_p(), _lib.mk_err()
    _lib.check(lib.mk_fix(p.ptr, ctypes.byref(o), ctypes.byref(out), ctypes.byref(rep),
                          ctypes.byref(err)), err)
    try:
        _lib.check(lib.mk_program_save(out, _b(os.fspath(dst)), 0, ctypes.byref(err)), err)
    finally:
        lib.mk_program_free(out)
    rows = [{"rule": r.rule.decode(), "pass": r.pass_.decode(), "ops_changed": r.ops_changed,
             "max_err": r.max_err} for r in rep.rows[:rep.n_rows]]
    return {"rows": rows, "verified": bool(rep.verified), "max_err": rep.max_err}


def convert(src, dst, target=None, precision="fp16", shapes=None, fix=True, weights=None,
            binds=None) -> dict:
    """`milkit convert SRC -o DST`: ONNX or Core ML model -> .mlpackage. target "ios15".."ios18";
    precision "fp16" or "fp32"; shapes {"x": (1, 3, (32, 1024), (32, 1024))} or
    {"x": "1,3,32..1024,32..1024"}; weights "int8"; binds {"name": value}."""
    o, _keep = _convert_options(shapes, binds)
    po = _lib.mk_pipeline_options()
    if target is not None:
        o.target = lib.mk_target_parse(_b(target))
        if not o.target:
            raise ValueError(f"milkit.convert: unknown target {target!r} (ios15..ios18)")
    if precision not in ("fp16", "fp32"):
        raise ValueError(f"milkit.convert: unknown precision {precision!r} (fp16, fp32)")
    if weights not in (None, "int8"):
        raise ValueError(f"milkit.convert: unknown weights {weights!r} (int8)")
    po.fp16, po.fix, po.int8_weights = precision == "fp16", bool(fix), weights == "int8"
    rep, err = _lib.mk_convert_report(), _lib.mk_err()
    _lib.check(lib.mk_convert(_b(os.fspath(src)), _b(os.fspath(dst)), ctypes.byref(o),
                              ctypes.byref(po), ctypes.byref(rep), ctypes.byref(err)), err)
    return {"target": rep.target, "n_ops": rep.n_ops, "n_fixed": rep.n_fixed,
            "fixes": rep.fix_summary.decode(), "n_fp16_ops": rep.n_fp16_ops,
            "n_fp32_ops": rep.n_fp32_ops}


@dataclass(frozen=True)
class FeatureDescription:
    """An input or output of a model: name, NumPy dtype, default shape (None entries for
    unknown dims), and the shape range of a flexible input (None otherwise)."""
    name: str
    dtype: type
    shape: tuple
    shape_range: Optional[tuple] = None
    enumerated_shapes: Optional[tuple] = None


class _Owner:
    """Keeps an output mk_tensor_list alive while NumPy arrays view its buffers."""

    def __init__(self, lst):
        self.lst = lst

    def __del__(self):
        lib.mk_tensor_list_free(ctypes.byref(self.lst))


def _feature(d):
    rng = d.get("shape_range")
    return FeatureDescription(
        d["name"], _NP_OF_NAME.get(d.get("dtype"), np.float32),
        tuple(None if x is None or x < 0 else x for x in d.get("shape") or []),
        tuple(tuple(r) for r in rng) if rng else None,
        tuple(tuple(s) for s in d["enumerated_shapes"]) if d.get("enumerated_shapes") else None)


class _Spec:
    """What get_spec() gives: description.input / description.output lists."""

    def __init__(self, inputs, outputs, meta, target):
        self.description = type("Description", (), {})()
        self.description.input, self.description.output = list(inputs), list(outputs)
        self.description.metadata = meta
        self.specificationVersion = target


class MLModel:
    """A model run by milkit's CPU reference interpreter, with coremltools' MLModel prediction
    API. fp16_emulate=True rounds every op output to half precision, as an fp16 model computes
    on the GPU / Neural Engine; by default float ops compute in fp32 (like Core ML's CPU).
    An .onnx model is converted in memory; shapes= / binds= are convert's options for it."""

    def __init__(self, model, function_name=None, fp16_emulate=False, compute_units=None,
                 threads=0, shapes=None, binds=None):
        del compute_units  # every prediction runs on milkit's CPU interpreter
        self.path = os.fspath(model)
        self._prog = _Program(self.path, shapes, binds)
        out, err = ctypes.c_void_p(), _lib.mk_err()
        _lib.check(lib.mk_program_info_string(self._prog.ptr, 1, ctypes.byref(out),
                                              ctypes.byref(err)), err)
        self._info = json.loads(_lib.take_string(out))
        functions = self._info.get("function_list") or []
        if function_name is not None and functions:
            chosen = [f for f in functions if f.get("name") == function_name]
            if not chosen:
                raise Error(f"{self.path}: no function '{function_name}' (functions: "
                            f"{', '.join(f.get('name', '?') for f in functions)})",
                            "MK_EINVAL")
            desc = chosen[0]
        else:
            desc = next((f for f in functions if f.get("default")), self._info)
        self.function_name = function_name
        self.fp16_emulate = bool(fp16_emulate)
        self._inputs = [_feature(d) for d in desc.get("inputs", [])]
        self._outputs = [_feature(d) for d in desc.get("outputs", [])]
        opts = _lib.mk_run_options()
        opts.fp16_emulate, opts.threads = int(self.fp16_emulate), threads
        self._session, self._lock = ctypes.c_void_p(), threading.Lock()
        _lib.check(lib.mk_session_new_function(
            self._prog.ptr, _b(function_name) if function_name is not None else None,
            ctypes.byref(opts), ctypes.byref(self._session), ctypes.byref(err)), err)
        self._zero_state = self._states_get()  # a new session's states are zeros

    def __del__(self):
        if getattr(self, "_session", None):
            lib.mk_session_free(self._session)
            self._session = None

    def __repr__(self):
        return f"milkit.MLModel({self.path!r}, inputs={[i.name for i in self._inputs]})"

    @property
    def input_description(self):
        return {f.name: f for f in self._inputs}

    @property
    def output_description(self):
        return {f.name: f for f in self._outputs}

    def get_spec(self):
        return _Spec(self._inputs, self._outputs, self._info.get("metadata", {}),
                     self._info.get("specification_version"))

    def _states_get(self):
        """name -> a copy of the session's current value of every state (empty: stateless)."""
        outs, err = _lib.mk_tensor_list(), _lib.mk_err()
        _lib.check(lib.mk_session_states_get(self._session, ctypes.byref(outs),
                                             ctypes.byref(err)), err)
        return {name: arr.copy() for name, arr in _arrays(outs).items()}

    def _states_set(self, values):
        err = _lib.mk_err()
        for name, value in values.items():
            a = np.ascontiguousarray(value)
            t = _lib.mk_tensor()
            t.name, t.dtype, t.rank = _b(name), _CODE_OF[a.dtype], a.ndim
            for d, n in enumerate(a.shape):
                t.dims[d] = n
            t.data, t.nbytes = (a.ctypes.data if a.nbytes else None), a.nbytes
            _lib.check(lib.mk_session_state_set(self._session, _b(name), ctypes.byref(t),
                                                ctypes.byref(err)), err)

    def make_state(self):
        """A new state (every state tensor zero), as coremltools' MLModel.make_state: pass it
        to predict(..., state=) and each prediction reads and updates it."""
        if not self._zero_state:
            raise ValueError("milkit.MLModel.make_state: this model has no state")
        return MLState({k: v.copy() for k, v in self._zero_state.items()})

    def _input_array(self, name, value):
        a = np.asarray(value)
        if a.dtype == np.float16 or a.dtype == np.float64 or a.dtype.kind == "f":
            a = a.astype(np.float32, copy=False)
        elif a.dtype.kind in "iu":
            if a.dtype != np.int32:
                if a.size and (a.min() < -2**31 or a.max() >= 2**31):
                    raise ValueError(f"input {name}: integer values outside int32, which Core ML "
                                     "uses for integer tensors")
                a = a.astype(np.int32)
        elif a.dtype != np.bool_:
            raise TypeError(f"input {name}: unsupported dtype {a.dtype}")
        if a.ndim > 8:
            raise ValueError(f"input {name}: rank {a.ndim} > 8")
        return np.ascontiguousarray(a)

    def predict(self, data, state=None):
        """Outputs for one input dict (name -> array-like), or a list of them for a list of
        dicts, as coremltools' MLModel.predict returns them."""
        if type(data) not in (list, dict):
            raise TypeError(f'"data" parameter must be either a dict or list of dict, but got '
                            f'{type(data)}.')
        if state is not None and not isinstance(state, MLState):
            raise TypeError(f"state must come from make_state(), not {type(state)}")
        if isinstance(data, list):
            return [self.predict(d, state) for d in data]
        names = {f.name for f in self._inputs}
        for k in data:
            if k not in names:
                raise KeyError(f'Provided key "{k}", in the input dict, does not match any of the '
                               f'model input name(s), which are: {names}')
        arrays = [(k, self._input_array(k, v)) for k, v in data.items()]
        items = (_lib.mk_tensor * max(1, len(arrays)))()
        keep = []
        for i, (k, a) in enumerate(arrays):
            t = items[i]
            nm = _b(k)
            keep.append(nm)
            t.name, t.dtype, t.rank = nm, _CODE_OF[a.dtype], a.ndim
            for d, n in enumerate(a.shape):
                t.dims[d] = n
            t.data, t.nbytes = (a.ctypes.data if a.nbytes else None), a.nbytes
        ins = _lib.mk_tensor_list(len(arrays), items)
        outs, err = _lib.mk_tensor_list(), _lib.mk_err()
        with self._lock:  # a session is not for concurrent runs
            if self._zero_state:  # without a state object each prediction starts from zeros
                self._states_set(state.values if state is not None else self._zero_state)
            st = lib.mk_session_run(self._session, ctypes.byref(ins), ctypes.byref(outs), None,
                                    ctypes.byref(err))
            if not st and state is not None:
                state.values = self._states_get()
        _lib.check(st, err)
        return _arrays(outs)


class MLState:
    """The state of a stateful model between predictions (coremltools' MLState): one array per
    state tensor, read by predict(..., state=self) and replaced by its updated values."""

    def __init__(self, values):
        self.values = values

    def read_state(self, name):
        return self.values[name].copy()

    def write_state(self, name, value):
        cur = self.values[name]
        a = np.asarray(value, dtype=cur.dtype)
        if a.shape != cur.shape:
            raise ValueError(f"state {name}: shape {a.shape}, the model's is {cur.shape}")
        self.values[name] = a.copy()


def _arrays(outs):
    """name -> array views of a mk_tensor_list's tensors (kept alive while any array is)."""
    owner = _Owner(outs)
    result = {}
    for i in range(outs.n):
        t = outs.items[i]
        name = _s(t.name)
        dt = np.dtype(_NP_OF_CODE.get(t.dtype, np.float32))
        shape = tuple(t.dims[d] for d in range(t.rank))
        n = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if n == 0 or not t.data:
            arr = np.zeros(shape, dt)
        else:
            buf = (ctypes.c_char * (n * dt.itemsize)).from_address(t.data)
            buf._owner = owner
            arr = np.frombuffer(buf, dt).reshape(shape)
        result[name] = arr  # fp16 outputs stay float32, as coremltools returns them
    return result
