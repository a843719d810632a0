"""Tests of the milkit Python package over libmilkit.so: predictions equal `milkit run`'s on the
same inputs, dtype and shape handling as coremltools' predict, zero-copy arrays, lint / fix /
info / convert, errors, the coremltools shim (a stand-in module, and real coremltools when
importable), and `pip install ./python` offline. Runs with pytest or python/tests/run.py."""
import os
import shutil
import subprocess
import sys
import tempfile
import types
import unittest

import numpy as np

import milkit
import milkit.coremltools as mct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("MILKIT_BIN", os.path.join(ROOT, "build", "debug", "milkit"))
SHARED = os.environ.get("MILKIT_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
GOLDEN = os.path.join(SHARED, "golden")
NODE = "/usr/share/libonnx-testdata/data/node"
VOCODER = os.path.join(ROOT, "examples", "vocoder_upsampler.onnx")


def need(path, why):
    if not os.path.exists(path):
        raise unittest.SkipTest(f"{path} absent: {why}")
    return path


def cli(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def models():
    out = [VOCODER]
    shared = os.path.join(SHARED, "models")
    if os.path.isdir(shared):
        out += sorted(os.path.join(shared, d, "model.onnx") for d in os.listdir(shared)
                      if os.path.exists(os.path.join(shared, d, "model.onnx")))
    if os.path.isdir(GOLDEN):
        out += sorted(os.path.join(GOLDEN, f) for f in os.listdir(GOLDEN)
                      if f.endswith(".mlpackage"))
    return out


def shared_io(m, prefix):
    """{name: array} of a shared model's input_NAME.npy or output_NAME.npy files."""
    d = os.path.dirname(m)
    return {f[len(prefix):-4]: np.load(os.path.join(d, f)) for f in sorted(os.listdir(d))
            if f.startswith(prefix) and f.endswith(".npy")}


def test_predict_equals_milkit_run():
    if not os.path.isdir(GOLDEN):
        print(f"  ({SHARED} absent: only the example model is checked)")
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, m in enumerate(models()):
            ins, outs = os.path.join(tmp, f"in{i}.npz"), os.path.join(tmp, f"out{i}.npz")
            ref = shared_io(m, "input_") if m.endswith("model.onnx") else {}
            shapes = {k: v.shape for k, v in ref.items()}
            args = [a for k, v in ref.items() for a in
                    ("--shape", f"{k}={','.join(map(str, v.shape))}", "-i",
                     f"{k}={os.path.join(os.path.dirname(m), 'input_' + k + '.npy')}")]
            cli("run", m, "--seed", str(i + 1), "--save-inputs", ins, "-o", outs, *args)
            x, want = dict(np.load(ins)), dict(np.load(outs))
            got = milkit.MLModel(m, shapes=shapes).predict(x)
            for k, r in (shared_io(m, "output_") if ref else {}).items():
                g = got[k] if k in got else next(iter(got.values()))
                assert np.all(np.abs(g - r) <= 1e-4 + 1e-3 * np.abs(r)), (m, k)
            assert sorted(got) == sorted(want), (m, list(got), list(want))
            for k in want:
                g, w = got[k], want[k]
                assert g.dtype == w.dtype and g.dtype != np.float16, (m, k, g.dtype, w.dtype)
                assert g.shape == w.shape, (m, k, g.shape, w.shape)
                assert np.array_equal(g, w, equal_nan=True), (m, k, np.abs(g - w).max())
            n += 1
    assert n >= 1


def test_zero_copy_in_and_out():
    m = milkit.MLModel(VOCODER)
    name = m.get_spec().description.input[0].name
    x = np.random.default_rng(0).standard_normal(m.input_description[name].shape).astype(np.float32)
    assert m._input_array(name, x) is x
    y = next(iter(m.predict({name: x}).values()))
    assert not y.flags.owndata and y.base is not None
    del m
    assert np.isfinite(y).all()  # the output buffer outlives the model and session


def test_input_dtypes_like_coremltools():
    m = milkit.MLModel(VOCODER)
    name = m.get_spec().description.input[0].name
    x = np.random.default_rng(1).standard_normal(m.input_description[name].shape)
    ref = next(iter(m.predict({name: x.astype(np.float16).astype(np.float32)}).values()))
    for v in (x.astype(np.float16), x.astype(np.float16).astype(np.float64),
              x.astype(np.float16).astype(np.float32).tolist()):
        got = next(iter(m.predict({name: v}).values()))
        assert np.array_equal(got, ref)
    d = os.path.join(NODE, "test_gather_0", "model.onnx")
    need(d, "Debian libonnx-testdata")
    g = milkit.MLModel(d)
    data = np.arange(120, dtype=np.float32).reshape(5, 4, 3, 2)
    for idx in (np.array([0, 1, 3], np.int64), np.array([0, 1, 3], np.int32), [0, 1, 3]):
        assert np.array_equal(g.predict({"data": data, "indices": idx})["y"], data[[0, 1, 3]])
    try:
        g.predict({"data": data, "indices": np.array([0, 2**40, 1], np.int64)})
        raise AssertionError("int64 beyond int32 accepted")
    except ValueError as e:
        assert "int32" in str(e)


def test_scalar_and_rank0_inputs():
    p = need(os.path.join(NODE, "test_pow_bcast_scalar", "model.onnx"), "Debian libonnx-testdata")
    m = milkit.MLModel(p)
    x = np.array([1.0, 2.0, 3.0], np.float32)
    for y in (2.0, np.float32(2.0), np.array(2.0, np.float32), np.array([2.0], np.float32)):
        assert np.allclose(m.predict({"x": x, "y": y})["z"], x ** 2), y


def test_flexible_shapes_and_errors():
    m = milkit.MLModel(need(os.path.join(GOLDEN, "flex.mlpackage"), "shared goldens"))
    d = m.get_spec().description.input[0]
    assert d.shape_range == ((1, 1), (8, 8), (1, 512))
    for n in (1, 37, 512):
        x = np.random.default_rng(n).standard_normal((1, 8, n)).astype(np.float32)
        y = m.predict({"x": x})["y"]
        assert y.shape == (1, 8, n) and np.allclose(y, np.cumsum(x, axis=2), atol=1e-4)
    try:
        m.predict({"x": np.zeros((1, 8, 513), np.float32)})
        raise AssertionError("out-of-range shape accepted")
    except milkit.Error as e:
        assert "dim 2 must be in 1..512" in str(e), e
    try:
        m.predict({"nope": np.zeros(3)})
        raise AssertionError("unknown input accepted")
    except KeyError as e:
        assert "nope" in str(e)


def test_batch_predict_and_errors():
    m = milkit.MLModel(VOCODER)
    name = m.get_spec().description.input[0].name
    shape = m.input_description[name].shape
    xs = [{name: np.full(shape, v, np.float32)} for v in (0.1, -0.2)]
    outs = m.predict(xs)
    assert len(outs) == 2 and not np.array_equal(*[next(iter(o.values())) for o in outs])
    try:
        milkit.MLModel("/nonexistent/m.mlpackage")
        raise AssertionError("missing model loaded")
    except milkit.Error as e:
        assert "/nonexistent/m.mlpackage" in str(e) and "\n" not in str(e)
    try:
        m.predict("x")
        raise AssertionError("string accepted as data")
    except TypeError:
        pass


STATEFUL = os.path.join(ROOT, "tests", "data", "ct_stateful_ios18.mlpackage")
MULTIFUNCTION = os.path.join(ROOT, "tests", "data", "ct_multifunction_ios18.mlpackage")


def test_state_accumulates_like_coremltools():
    m = milkit.MLModel(STATEFUL)
    x = np.array([[1.0, 2.0, -3.0, 0.5]], np.float32)
    s = m.make_state()
    assert set(s.values) == {"acc", "cache"} and not s.read_state("acc").any()
    for k in range(3):
        out = m.predict({"x": x, "pos": np.array([k], np.int32)}, state=s)
        assert np.allclose(out["sum"], (k + 1) * x), out["sum"]
    assert np.allclose(s.read_state("acc"), 3 * x)
    cache = s.read_state("cache")
    assert np.allclose(cache[0, :3], np.repeat(x, 3, axis=0)) and not cache[0, 3:].any()
    fresh = m.make_state()  # states are independent of each other
    assert np.allclose(m.predict({"x": x, "pos": np.array([0], np.int32)}, state=fresh)["sum"], x)
    s.write_state("acc", np.full((1, 4), 10, np.float32))
    assert np.allclose(m.predict({"x": x, "pos": np.array([3], np.int32)}, state=s)["sum"], 10 + x)
    # no state object: every prediction starts from zeros
    assert np.allclose(m.predict({"x": x, "pos": np.array([0], np.int32)})["sum"], x)
    for bad in (lambda: m.predict({"x": x, "pos": np.array([0], np.int32)}, state=object()),
                lambda: s.write_state("acc", np.zeros((2, 4))),
                milkit.MLModel(VOCODER).make_state):
        try:
            bad()
            raise AssertionError("accepted")
        except (TypeError, ValueError):
            pass


def test_function_name_picks_a_function():
    prefill = milkit.MLModel(MULTIFUNCTION, function_name="prefill")
    default = milkit.MLModel(MULTIFUNCTION)
    assert prefill.input_description["x"].shape == (1, 3, 4)
    assert default.input_description["x"].shape == (1, 1, 4)
    x = np.random.default_rng(5).standard_normal((1, 3, 4)).astype(np.float32)
    y3 = prefill.predict({"x": x})["y"]
    y1 = default.predict({"x": x[:, :1]})["y"]
    assert y3.shape == (1, 3, 8) and np.allclose(y3[:, :1], y1, atol=1e-6)
    try:
        milkit.MLModel(MULTIFUNCTION, function_name="other")
        raise AssertionError("unknown function accepted")
    except milkit.Error as e:
        assert "other" in str(e) and "prefill" in str(e)


def test_fp16_emulate_changes_numbers():
    m32, m16 = milkit.MLModel(VOCODER), milkit.MLModel(VOCODER, fp16_emulate=True)
    name = m32.get_spec().description.input[0].name
    shape = m32.input_description[name].shape
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    a, b = next(iter(m32.predict({name: x}).values())), next(iter(m16.predict({name: x}).values()))
    assert not np.array_equal(a, b) and np.allclose(a, b, atol=5e-2)
    assert np.array_equal(b.astype(np.float16).astype(np.float32), b)


def test_info_lint_match_cli():
    import json
    for m in models():
        onnx = m.endswith("model.onnx")
        sh = {k: v.shape for k, v in shared_io(m, "input_").items()} if onnx else {}
        args = [a for k, v in sh.items() for a in ("--shape", f"{k}={','.join(map(str, v))}")]
        assert milkit.info(m, shapes=sh) == json.loads(cli("info", "--json", m, *args))
    c = need(os.path.join(GOLDEN, "c_convtranspose1d_768to384_k7s3p2_fp16_ios17.mlpackage"),
             "shared goldens")
    f = milkit.lint(c)
    r = subprocess.run([BIN, "lint", "--json", c], capture_output=True, text=True)
    js = json.loads(r.stdout)
    items = js["findings"] if isinstance(js, dict) else js
    assert [x.rule for x in f] == [x["rule"] for x in items] and len(f) >= 1
    assert all(x.severity in ("info", "warning", "error") and x.message for x in f)
    assert f[0].op and f[0].op_type == "conv_transpose" and f[0].fix


def test_fix_and_convert():
    c = need(os.path.join(GOLDEN, "c_convtranspose1d_768to384_k7s3p2_fp16_ios17.mlpackage"),
             "shared goldens")
    with tempfile.TemporaryDirectory() as tmp:
        dst = os.path.join(tmp, "fixed.mlpackage")
        rep = milkit.fix(c, dst)
        assert rep["verified"] and rep["rows"]
        assert len(milkit.lint(dst)) < len(milkit.lint(c))
        x = {"x": np.random.default_rng(4).standard_normal((1, 768, 32)).astype(np.float32)}
        a, b = milkit.MLModel(c).predict(x)["y"], milkit.MLModel(dst).predict(x)["y"]
        assert np.allclose(a, b, atol=1e-3)
        pkg = os.path.join(tmp, "voc.mlpackage")
        r = milkit.convert(VOCODER, pkg, target="ios17", precision="fp32")
        assert r["n_ops"] > 0 and milkit.info(pkg)["target"] == "iOS17"
        name = milkit.MLModel(pkg).get_spec().description.input[0].name
        shape = milkit.MLModel(pkg).input_description[name].shape
        v = {name: np.random.default_rng(5).standard_normal(shape)}
        ya, yb = milkit.MLModel(VOCODER).predict(v), milkit.MLModel(pkg).predict(v)
        assert all(np.allclose(ya[k], yb[k], atol=1e-4) for k in ya)
        for bad in (dict(target="ios9"), dict(precision="fp8")):
            try:
                milkit.convert(VOCODER, os.path.join(tmp, "bad.mlpackage"), **bad)
                raise AssertionError(bad)
            except ValueError:
                pass
        assert not os.path.exists(os.path.join(tmp, "bad.mlpackage"))


def _standin():
    """A minimal module shaped like coremltools: models.MLModel(path or spec) whose predict
    raises off macOS, as the real one does."""
    ct = types.ModuleType("coremltools_standin")

    class MLModel:
        def __init__(self, model, is_temp_package=False):
            if isinstance(model, str):
                self.package_path, self.is_package, self._saved = model, True, None
            else:
                self.package_path, self.is_package, self._saved = None, True, model

        def save(self, path):
            shutil.copytree(self._saved, path)

        def predict(self, data, state=None):
            raise Exception("Model prediction is only supported on macOS version 10.13 or later.")

    ct.models = types.SimpleNamespace(MLModel=MLModel)
    return ct


def test_coremltools_shim_standin():
    ct = _standin()
    x = {"mel": np.random.default_rng(6).standard_normal((1, 80, 32)).astype(np.float32)}
    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(tmp, "voc.mlpackage")
        milkit.convert(VOCODER, p, precision="fp32")
        try:
            ct.models.MLModel(p).predict(x)
            raise AssertionError("stand-in predicted before enable")
        except Exception as e:
            assert "macOS" in str(e)
        mct.enable(ct)
        try:
            want = milkit.MLModel(p).predict(x)["audio"]
            assert np.array_equal(ct.models.MLModel(p).predict(x)["audio"], want)
            mem = ct.models.MLModel(p)  # as an in-memory model: saved on first use
            mem.package_path, mem._saved = None, p
            assert np.array_equal(mem.predict(x)["audio"], want)
            assert os.path.isdir(os.path.join(mem._milkit_tmpdir.name, "model.mlpackage"))
            try:
                mem.make_state()
                raise AssertionError("state of a stateless model accepted")
            except ValueError as e:
                assert "no state" in str(e), e
            try:
                ct.models.MLModel(p).predict({"mel": np.zeros((1, 80, 33), np.float32)})
                raise AssertionError("bad shape accepted")
            except milkit.Error as e:
                assert str(e).startswith("milkit (reference CPU interpreter, not Core ML): "
                                         "input mel"), e
        finally:
            mct.disable(ct)
        try:
            ct.models.MLModel(p).predict(x)
            raise AssertionError("disable did not restore predict")
        except Exception as e:
            assert "macOS" in str(e)
        assert not hasattr(ct.models.MLModel, "make_state")


def test_coremltools_real():
    try:
        import coremltools as ct
        from coremltools.converters.mil import Builder as mb
    except Exception as e:  # noqa: BLE001 - any import failure means "not available"
        raise unittest.SkipTest(f"coremltools not importable ({type(e).__name__}: {e}); "
                                "the stand-in test covers the shim")
    p = need(os.path.join(GOLDEN, "d_mlp_linear_relu_softmax_fp32_ios17.mlpackage"),
             "shared goldens")
    x = {"x": np.random.default_rng(7).standard_normal((1, 64)).astype(np.float32)}
    mct.enable()
    try:
        got = ct.models.MLModel(p).predict(x)["probs"]
        assert np.array_equal(got, milkit.MLModel(p).predict(x)["probs"])
        try:
            ct.models.MLModel(p).make_state()
            raise AssertionError("make_state of a stateless model accepted")
        except ValueError as e:
            assert "no state" in str(e)

        @mb.program(input_specs=[mb.TensorSpec(shape=(2, 3))],
                    opset_version=ct.target.iOS17)
        def prog(a):
            return mb.mul(x=mb.relu(x=a), y=np.float32(3.0), name="out")

        m = ct.convert(prog, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS17,
                       compute_precision=ct.precision.FLOAT32)
        a = np.array([[-1, 0, 1], [2, -3, 4]], np.float32)
        y = m.predict({"a": a})
        assert np.array_equal(list(y.values())[0], np.maximum(a, 0) * 3), y
    finally:
        mct.disable()
    assert ct.models.MLModel.make_state.__module__.startswith("coremltools")


def test_pip_install_offline():
    r = subprocess.run([sys.executable, "-c", "import setuptools; import pip"], capture_output=True,
                       text=True)
    if r.returncode:
        raise unittest.SkipTest(f"pip/setuptools missing ({r.stderr.strip().splitlines()[-1]}): "
                                "apt-get install python3-pip python3-setuptools")
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src")
        shutil.copytree(os.path.join(ROOT, "python"), src,
                        ignore=shutil.ignore_patterns("tests", "__pycache__", "*.egg-info",
                                                      "build"))
        r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index",
                            "--no-build-isolation", "--no-deps", "--target",
                            os.path.join(tmp, "site"), src], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        code = ("import milkit, sys; assert milkit.__file__.startswith(sys.argv[1]), "
                "milkit.__file__; print(milkit.info(sys.argv[2])['inputs'][0]['name'])")
        env = dict(os.environ, PYTHONPATH=os.path.join(tmp, "site"),
                   MILKIT_LIB=os.path.abspath(milkit.library_path))
        r = subprocess.run([sys.executable, "-c", code, os.path.join(tmp, "site"), VOCODER],
                           capture_output=True, text=True, env=env, cwd=tmp)
        assert r.returncode == 0 and r.stdout.strip(), r.stderr


def test_ctypes_structs_match_milkit_h():
    """Every field the ctypes mirrors declare sits at the offset the C compiler gives it, and
    each padded mirror is at least as large as the C struct, so header changes cannot go
    unnoticed."""
    from milkit import _lib
    cc = shutil.which("cc")
    if not cc:
        raise unittest.SkipTest("no C compiler to read milkit.h's layout")
    structs = [getattr(_lib, n) for n in dir(_lib) if n.startswith("mk_") and
               isinstance(getattr(_lib, n), type) and issubclass(getattr(_lib, n),
                                                                  __import__("ctypes").Structure)]
    lines = ['#include <stddef.h>', '#include <stdio.h>', '#include "milkit.h"',
             "int main(void) {"]
    want = []
    for st in structs:
        lines.append(f'printf("{st.__name__} %zu\\n", sizeof({st.__name__}));')
        for f, _ in st._fields_:
            if f == "_pad":
                continue
            cf = f.rstrip("_")
            lines.append(f'printf("{st.__name__}.{cf} %zu\\n", offsetof({st.__name__}, {cf}));')
            want.append((f"{st.__name__}.{cf}", getattr(st, f).offset))
    lines.append("return 0; }")
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = os.path.join(tmp, "l.c"), os.path.join(tmp, "l")
        with open(src, "w") as fh:
            fh.write("\n".join(lines))
        r = subprocess.run([cc, "-std=c11", "-I", os.path.join(ROOT, "include"), src, "-o", exe],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        got = dict(line.rsplit(" ", 1) for line in subprocess.run(
            [exe], capture_output=True, text=True, check=True).stdout.splitlines())
    assert len(structs) >= 10
    for k, off in want:
        assert int(got[k]) == off, (k, got[k], off)
    import ctypes
    for st in structs:
        assert int(got[st.__name__]) <= ctypes.sizeof(st), st.__name__
