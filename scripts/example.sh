#!/usr/bin/env bash
# Sets up a fresh Debian machine, builds milkit and runs the main job on the bundled example:
# an ONNX vocoder upsampler (a 1-D ConvTranspose with bias: hazard H1, wrong on the Neural
# Engine). Lint it, convert it to an .mlpackage (fixes on, fp16 compute by default), show what
# the package holds, lint the package, and verify its outputs against the ONNX model, both run
# by milkit's interpreter (fp16 tolerance, then an fp32 conversion at fp32 tolerance).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make -s -j"$(nproc)" BUILD=release build/release/milkit
M=build/release/milkit
IN=examples/vocoder_upsampler.onnx
OUT=build/example/vocoder_upsampler.mlpackage
mkdir -p build/example
run() { echo; echo "\$ milkit $*"; "$M" "$@"; }
run lint "$IN" || true     # exit 1: findings
run convert "$IN" -o "$OUT" --target ios16
run info "$OUT"
run lint "$OUT"
run verify "$IN" "$OUT" --atol 2e-3 --rtol 1e-2
run convert "$IN" -o build/example/vocoder_fp32.mlpackage --precision fp32
run verify "$IN" build/example/vocoder_fp32.mlpackage
