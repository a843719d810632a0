#!/usr/bin/env bash
# Sets up a fresh Debian machine, builds milkit and runs the main job on the bundled example:
# convert an ONNX vocoder upsampler (a 1-D ConvTranspose with bias, hazard H1) to an
# .mlpackage with the hazard fixes on, show what it holds, lint it, and verify its outputs
# against the ONNX model run by the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make -j"$(nproc)" BUILD=release >/dev/null
M=build/release/milkit
OUT=build/example/vocoder_upsampler.mlpackage
mkdir -p build/example
echo "\$ milkit lint examples/vocoder_upsampler.onnx"
$M lint examples/vocoder_upsampler.onnx || true
echo "\$ milkit convert examples/vocoder_upsampler.onnx -o $OUT --target ios17"
$M convert examples/vocoder_upsampler.onnx -o "$OUT" --target ios17
echo "\$ milkit info $OUT"
$M info "$OUT"
echo "\$ milkit lint $OUT"
$M lint "$OUT"
echo "\$ milkit verify examples/vocoder_upsampler.onnx $OUT"
$M verify examples/vocoder_upsampler.onnx "$OUT"
echo "\$ milkit verify examples/vocoder_upsampler.onnx $OUT --fp16-emulate"
$M verify examples/vocoder_upsampler.onnx "$OUT" --fp16-emulate --atol 1e-2 --rtol 1e-2
