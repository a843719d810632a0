"""bench/compress_vs_coremltools.py: milkit compress against coremltools' ct.optimize.coreml on
the same milkit-written fp32 iOS18 packages (a development measurement, not a test).

For each package and mode: wall and CPU time (coremltools: palettize_weights /
linear_quantize_weights plus save, CPU of this process; milkit: the whole `milkit compress`
command, which also runs the interpreter three times for its report, CPU of the child), weight.bin
bytes, and the worst output cosine of the compressed package
against the fp32 one, both run by milkit's interpreter (`milkit verify`, seeded inputs).
Modes: 8-bit k-means palettization per tensor, 4-bit k-means per group of 16 output channels,
int4 symmetric per block of 32. Skips (exit 0) when coremltools or scikit-learn is absent.

Usage: PYTHONPATH=/work/ct /usr/bin/python3 bench/compress_vs_coremltools.py MILKIT PKG...
"""
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import coremltools as ct
    import coremltools.optimize.coreml as cto
    import sklearn  # noqa: F401  (coremltools' k-means)
except ImportError as exc:
    print("compress_vs_coremltools: skipped (%s)" % exc)
    sys.exit(0)

MODES = [
    ("palettize 8", ["--palettize", "8"],
     lambda: cto.OpPalettizerConfig(mode="kmeans", nbits=8), "pal"),
    ("palettize 4 group 16", ["--palettize", "4", "--group", "16"],
     lambda: cto.OpPalettizerConfig(mode="kmeans", nbits=4, granularity="per_grouped_channel",
                                    group_size=16), "pal"),
    ("int4 block 32", ["--int4", "--block", "32"],
     lambda: cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int4",
                                         granularity="per_block", block_size=32), "lin"),
]


def wbytes(pkg):
    p = os.path.join(pkg, "Data", "com.apple.CoreML", "weights", "weight.bin")
    return os.path.getsize(p) if os.path.exists(p) else 0


def worst_cos(milkit, pkg, ref):
    out = subprocess.run([milkit, "verify", pkg, ref, "--seed", "1"], capture_output=True,
                         text=True).stdout
    c = [float(x) for x in re.findall(r" cos ([0-9.eE+-]+)", out)]
    return min(c) if c else float("nan")


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    milkit, pkgs = sys.argv[1], sys.argv[2:]
    tmp = tempfile.mkdtemp()
    print("%-16s %-22s %7s %7s %7s %7s %10s %10s %8s %8s" % (
        "model", "mode", "ct s", "ct cpu", "mk s", "mk cpu", "ct bytes", "mk bytes", "ct cos",
        "mk cos"))
    try:
        for pkg in pkgs:
            name = os.path.basename(pkg.rstrip("/")).replace(".mlpackage", "")
            for label, args, cfg, kind in MODES:
                ctp = os.path.join(tmp, "ct.mlpackage")
                mkp = os.path.join(tmp, "mk.mlpackage")
                t0, c0 = time.time(), time.process_time()
                try:
                    m = ct.models.MLModel(pkg, skip_model_load=True)
                    oc = cto.OptimizationConfig(global_config=cfg())
                    if kind == "pal":
                        m2 = cto.palettize_weights(m, oc)
                    else:
                        m2 = cto.linear_quantize_weights(m, oc)
                    m2.save(ctp)
                    ct_s, ct_cpu = time.time() - t0, time.process_time() - c0
                    ct_b, ct_c = wbytes(ctp), worst_cos(milkit, ctp, pkg)
                except Exception as exc:  # a model coremltools cannot take: say so
                    ct_s, ct_cpu, ct_b, ct_c = float("nan"), float("nan"), 0, float("nan")
                    print("  coremltools failed on %s %s: %s" % (name, label, str(exc)[:120]))
                t0 = time.time()
                u0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                r = subprocess.run([milkit, "compress", pkg, "-o", mkp] + args,
                                   capture_output=True, text=True)
                u1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                mk_s = time.time() - t0
                mk_cpu = (u1.ru_utime - u0.ru_utime) + (u1.ru_stime - u0.ru_stime)
                mk_b = wbytes(mkp) if r.returncode == 0 else 0
                mk_c = worst_cos(milkit, mkp, pkg) if r.returncode == 0 else float("nan")
                print("%-16s %-22s %7.2f %7.2f %7.2f %7.2f %10d %10d %8.4f %8.4f" % (
                    name, label, ct_s, ct_cpu, mk_s, mk_cpu, ct_b, mk_b, ct_c, mk_c))
                sys.stdout.flush()
                shutil.rmtree(ctp, ignore_errors=True)
                shutil.rmtree(mkp, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
