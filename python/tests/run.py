"""Runs the Python tests without pytest (pytest runs them too): every test_* function of the
test_*.py files here; prints ok/FAIL/skip lines and "N passed, N failed, N skipped"."""
import importlib.util
import os
import sys
import traceback
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
counts = [0, 0, 0]
for fn in sorted(os.listdir(here)):
    if not (fn.startswith("test_") and fn.endswith(".py")):
        continue
    spec = importlib.util.spec_from_file_location(fn[:-3], os.path.join(here, fn))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name in sorted(n for n in dir(mod) if n.startswith("test_")):
        f = getattr(mod, name)
        try:
            f()
            print(f"ok   {fn}::{name}")
            counts[0] += 1
        except unittest.SkipTest as e:
            print(f"skip {fn}::{name}: {e}")
            counts[2] += 1
        except Exception:
            print(f"FAIL {fn}::{name}")
            traceback.print_exc(limit=6)
            counts[1] += 1
print(f"{counts[0]} passed, {counts[1]} failed, {counts[2]} skipped")
sys.exit(1 if counts[1] else 0)
