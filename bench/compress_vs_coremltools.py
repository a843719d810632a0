"""bench/compress_vs_coremltools.py: milkit compress against coremltools' ct.optimize.coreml on
the same milkit-written fp32 iOS18 packages (a development measurement, not a test).

For each package and mode: wall and CPU time (coremltools: palettize_weights /
linear_quantize_weights plus save, CPU of this process; milkit: the whole `milkit compress`
command, which also runs the interpreter three times for its report, CPU of the child), weight.bin
bytes, and the worst output cosine of the compressed package
against the fp32 one, both run by milkit's interpreter (`milkit verify`, seeded inputs).
Modes: 8-bit k-means palettization per tensor, 4-bit k-means per group of 16 output channels,
int4 symmetric per block of 32. For the 4-bit modes a second milkit row, "same weights", skips
(--skip) exactly the weights coremltools left fp32 (the float constants of rank >= 2 with 2048+
elements still in its package), so that both compress the same weights. Skips (exit 0) when
coremltools or scikit-learn is absent.

Usage: PYTHONPATH=/work/ct /usr/bin/python3 bench/compress_vs_coremltools.py [--modes 8,4,i4]
       [--fresh N] MILKIT PKG[:SAMPLES.npz]...
  --fresh N: cosine = worst over seeded inputs 1..N (default 1); PKG:SAMPLES.npz: milkit also
  gets -i SAMPLES.npz (its calibration) and the cosine on SAMPLES.npz is printed too.
"""
import json
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


FRESH = 1


def worst_cos(milkit, pkg, ref, extra=None):
    c = []
    for seed in range(1, FRESH + 1) if extra is None else [0]:
        args = extra if extra is not None else ["--seed", str(seed)]
        out = subprocess.run([milkit, "verify", pkg, ref] + args, capture_output=True,
                             text=True).stdout
        c += [float(x) for x in re.findall(r" cos ([0-9.eE+-]+)", out)]
    return min(c) if c else float("nan")


def ct_fp32_weights(ctp):
    """(name, elements) of the float constants of rank >= 2 and 2048+ elements coremltools
    left as they were (its skipped weights)"""
    spec = ct.models.MLModel(ctp, skip_model_load=True).get_spec()
    names = []
    for f in spec.mlProgram.functions.values():
        for b in f.block_specializations.values():
            for op in b.operations:
                if op.type != "const" or not op.outputs:
                    continue
                t = op.outputs[0].type.tensorType
                dims = [d.constant.size for d in t.dimensions]
                n = 1
                for d in dims:
                    n *= d
                if t.dataType in (10, 11) and len(dims) >= 2 and n >= 2048:
                    names.append((op.outputs[0].name, n))
    return names


def same_weights(milkit, pkg, kept, args, tmp):
    """milkit's names for coremltools' kept weights: by name, else (coremltools' pipeline
    renames the weights it rewrites, e.g. matmul into linear) an unclaimed milkit weight with
    the same element count"""
    out = os.path.join(tmp, "names.mlpackage")
    r = subprocess.run([milkit, "compress", pkg, "-o", out] + args + ["--json"],
                       capture_output=True, text=True)
    try:
        layers = [(x["weight"], x["elements"]) for x in json.loads(r.stdout)["layers"]]
    except (ValueError, KeyError):
        layers = []
    shutil.rmtree(out, ignore_errors=True)
    names = {n for n, _ in layers}
    skip = [n for n, _ in kept if n in names]
    for n, cnt in kept:
        if n in names:
            continue
        for m, mc in layers:
            if mc == cnt and m not in skip:
                skip.append(m)
                break
    return skip


def run_milkit(milkit, pkg, mkp, args):
    t0 = time.time()
    u0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([milkit, "compress", pkg, "-o", mkp] + args, capture_output=True,
                       text=True)
    u1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode:
        print("  milkit failed: %s" % r.stderr.strip()[:160])
    return (time.time() - t0, (u1.ru_utime - u0.ru_utime) + (u1.ru_stime - u0.ru_stime),
            r.returncode == 0)


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    global FRESH
    argv, want = sys.argv[1:], "8,4,i4"
    while argv and argv[0] in ("--modes", "--fresh"):
        if argv[0] == "--modes":
            want = argv[1]
        else:
            FRESH = int(argv[1])
        argv = argv[2:]
    keys = {"palettize 8": "8", "palettize 4 group 16": "4", "int4 block 32": "i4"}
    modes = [m for m in MODES if keys[m[0]] in want.split(",")]
    milkit, pkgs = argv[0], argv[1:]
    tmp = tempfile.mkdtemp()
    print("%-16s %-22s %7s %7s %7s %7s %10s %10s %8s %8s %8s" % (
        "model", "mode", "ct s", "ct cpu", "mk s", "mk cpu", "ct bytes", "mk bytes", "ct cos",
        "mk cos", "mk smp"))
    row = "%-16s %-22s %7.2f %7.2f %7.2f %7.2f %10d %10d %8.4f %8.4f %8s"
    try:
        for spec in pkgs:
            pkg, _, smp = spec.partition(":")
            name = os.path.basename(pkg.rstrip("/")).replace(".mlpackage", "")
            ivs = ["-i", smp] if smp else []
            for label, args, cfg, kind in modes:
                ctp = os.path.join(tmp, "ct.mlpackage")
                mkp = os.path.join(tmp, "mk.mlpackage")
                t0, c0 = time.time(), time.process_time()
                skip = None
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
                    skip = ct_fp32_weights(ctp)
                except Exception as exc:  # a model coremltools cannot take: say so
                    ct_s, ct_cpu, ct_b, ct_c = float("nan"), float("nan"), 0, float("nan")
                    print("  coremltools failed on %s %s: %s" % (name, label, str(exc)[:120]))
                runs = [(label, [])]
                if skip and label != "palettize 8":
                    skip = same_weights(milkit, pkg, skip, args + ivs, tmp)
                    runs.append(("  same weights (%d kept)" % len(skip),
                                 sum([["--skip", w] for w in skip], [])))
                for lab, extra in runs:
                    mk_s, mk_cpu, ok = run_milkit(milkit, pkg, mkp, args + ivs + extra)
                    mk_b = wbytes(mkp) if ok else 0
                    mk_c = worst_cos(milkit, mkp, pkg) if ok else float("nan")
                    mk_i = "%.4f" % worst_cos(milkit, mkp, pkg, ["-i", smp]) if ok and smp \
                        else "-"
                    print(row % (name, lab, ct_s, ct_cpu, mk_s, mk_cpu, ct_b, mk_b, ct_c, mk_c,
                                 mk_i))
                    sys.stdout.flush()
                    shutil.rmtree(mkp, ignore_errors=True)
                shutil.rmtree(ctp, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
