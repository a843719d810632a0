#!/usr/bin/env bash
# Installs everything milkit needs on a fresh Debian machine (run as root or with sudo).
# Idempotent: packages already present are skipped quickly.
set -euo pipefail
PKGS=(build-essential clang libclang-rt-14-dev protobuf-c-compiler libprotobuf-c-dev
      protobuf-compiler libonnx-dev libonnx-testdata python3-onnx libcjson-dev
      libopenblas-dev libzip-dev zip xxd time
      clang-format python3-numpy python3-pytest python3-setuptools python3-pip pkg-config man-db
      python3-torch python3-torchvision python3-torchaudio)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "setup: system packages ready"
