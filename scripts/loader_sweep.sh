#!/usr/bin/env bash
# Apple's loader on everything milkit writes: ONNX node conformance models, real models, the
# transformer exports (static, flexible, stateful, multi-function), `fix` of the goldens,
# re-targeted packages and `compress` in each mode, each package checked by coremltools'
# milproto loader (validate_mlpackage.py). Development tool, not CI: skips without coremltools.
# Usage: [CONF_CASES='test_pad*'] [MILKIT=bin] scripts/loader_sweep.sh [OUTDIR] [PART...]
set -u
cd "$(dirname "$0")/.." || exit 2
OUT=${1:-build/loader_sweep}
shift || true
PARTS=${*:-conformance real transformers fix retarget compress}
MK=${MILKIT:-build/release/milkit}
CT=${COREMLTOOLS:-/work/ct}
PY=${CT_PYTHON:-/usr/bin/python3}
SHARED=${MILKIT_SHARED:-../shared}
VALIDATE=${VALIDATE:-$SHARED/tools/validate_mlpackage.py}
NODE=/usr/share/libonnx-testdata/data/node
CACHE=tests/.cache
BATCH=50

if ! PYTHONPATH=$CT "$PY" -c 'import coremltools' >/dev/null 2>&1 || [ ! -f "$VALIDATE" ]; then
    echo "loader_sweep: skipped: coremltools ($CT with $PY) or $VALIDATE not available"
    exit 0
fi
[ -x "$MK" ] || { echo "loader_sweep: $MK missing (make BUILD=release)"; exit 2; }
mkdir -p "$OUT"
LIST=$OUT/written.txt   # part<TAB>label<TAB>package
REFUSED=$OUT/refused.txt
: >"$LIST"
: >"$REFUSED"

# try LABEL PART PKG ARGS...: run milkit, record the package it wrote or the refusal
try() {
    local part=$1 label=$2 pkg=$3
    shift 3
    rm -rf "$pkg"
    local msg
    if msg=$("$MK" "$@" 2>&1 >/dev/null) && [ -e "$pkg" ]; then
        printf '%s\t%s\t%s\n' "$part" "$label" "$pkg" >>"$LIST"
        return 0
    fi
    printf '%s\t%s\t%s\n' "$part" "$label" "$(echo "$msg" | tail -1)" >>"$REFUSED"
    return 1
}

# --- ONNX node conformance: each case as is, else with its test inputs (-i, for dynamic
# dims), else with every input after the first baked in (--bind), as the conformance test does
conformance() {
    [ -d "$NODE" ] || { echo "loader_sweep: $NODE absent: conformance skipped"; return; }
    local in=$OUT/conf_inputs
    mkdir -p "$in"
    "$PY" - "$NODE" "$in" <<'EOF' || { echo "loader_sweep: no onnx module: conformance skipped"; return; }
import os, sys, numpy as np, onnx
from onnx import numpy_helper
node, out = sys.argv[1:3]
for case in sorted(os.listdir(node)):
    d = os.path.join(node, case)
    if os.path.exists(os.path.join(out, case, "all.npz")):
        continue
    try:
        m = onnx.load(os.path.join(d, "model.onnx"))
    except Exception:
        continue
    inits = {i.name for i in m.graph.initializer}
    names = [i.name for i in m.graph.input if i.name not in inits]
    arrs = []
    for k, n in enumerate(names):
        p = os.path.join(d, "test_data_set_0", "input_%d.pb" % k)
        if not os.path.exists(p):
            break
        t = onnx.TensorProto()
        with open(p, "rb") as f:
            t.ParseFromString(f.read())
        try:
            arrs.append((n, numpy_helper.to_array(t)))
        except Exception:
            break
    if len(arrs) != len(names) or not names:
        continue
    os.makedirs(os.path.join(out, case), exist_ok=True)
    np.savez(os.path.join(out, case, "all.npz"), **dict(arrs))
    np.savez(os.path.join(out, case, "first.npz"), **dict(arrs[:1]))
    with open(os.path.join(out, case, "binds"), "w") as f:
        for k, (n, a) in enumerate(arrs[1:], 1):
            np.save(os.path.join(out, case, "b%d.npy" % k), a)
            f.write("%s=@%s\n" % (n, os.path.join(out, case, "b%d.npy" % k)))
EOF
    local modes=("fp16_ios15:" "fp32_ios18:--target ios18 --precision fp32"
                 "fp32_ios15:--precision fp32" "fp16_ios18:--target ios18")
    # shellcheck disable=SC2086
    for dir in $(for pat in ${CONF_CASES:-*}; do echo "$NODE"/$pat/; done); do
        local case
        case=$(basename "$dir")
        for m in "${modes[@]}"; do
            local tag=${m%%:*} opts=${m#*:}
            local pkg=$OUT/conf/$tag/$case.mlpackage binds=
            [ -s "$in/$case/binds" ] && binds=$(sed 's/^/--bind /' "$in/$case/binds")
            mkdir -p "$OUT/conf/$tag"
            rm -rf "$pkg"
            # shellcheck disable=SC2086
            "$MK" convert "$dir/model.onnx" -o "$pkg" $opts >/dev/null 2>&1 ||
                { [ -f "$in/$case/all.npz" ] &&
                      "$MK" convert "$dir/model.onnx" -o "$pkg" $opts -i "$in/$case/all.npz" \
                          >/dev/null 2>&1; } ||
                { [ -s "$in/$case/binds" ] &&
                      "$MK" convert "$dir/model.onnx" -o "$pkg" $opts -i "$in/$case/first.npz" \
                          $binds >/dev/null 2>&1; }
            if [ -e "$pkg" ]; then
                printf 'conformance_%s\t%s\t%s\n' "$tag" "$case" "$pkg" >>"$LIST"
            else
                printf 'conformance_%s\t%s\trefused\n' "$tag" "$case" >>"$REFUSED"
            fi
        done
    done
}

# name|path|convert args
REAL="silero_vad|$CACHE/silero-vad-1.0.3/package/weights/silero_vad_16k_op15.onnx|--shape input=1,512 --shape state=2,1,128 --bind sr=16000
silero_vad_v5|$CACHE/vad-web-0.0.31/package/dist/silero_vad_v5.onnx|--shape input=1,512 --shape state=2,1,128 --bind sr=16000
melspectrogram|$CACHE/openwakeword-0.1.1/package/models/melspectrogram.onnx|--shape input=1,1280
oww_embedding|$CACHE/openwakeword-0.1.1/package/models/embedding_model.onnx|--shape input_1=1,76,32,1
ppocr_det|$CACHE/ocr-models-1.4.2/package/assets/ch_PP-OCRv4_det_infer.onnx|--shape x=1,3,640,640
ppocr_det_flex|$CACHE/ocr-models-1.4.2/package/assets/ch_PP-OCRv4_det_infer.onnx|--shape x=1,3,32..1024,32..1024
ppocr_rec|$CACHE/ocr-models-1.4.2/package/assets/ch_PP-OCRv4_rec_infer.onnx|--shape x=1,3,48,320
ppocr_cls|$CACHE/ocr-models-1.4.2/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx|--shape x=1,3,48,192
hifigan|$SHARED/models/hifigan_small_arch/model.onnx|--shape mel=1,80,32
squeezenet|$SHARED/models/tv_squeezenet1_1/model.onnx|"

real() {
    mkdir -p "$OUT/real"
    while IFS='|' read -r name path args; do
        [ -f "$path" ] || { echo "loader_sweep: $path absent"; continue; }
        for m in "fp16_ios15:" "fp32_ios15:--precision fp32" "fp16_ios18:--target ios18" \
                 "fp32_ios18:--target ios18 --precision fp32"; do
            local tag=${m%%:*} opts=${m#*:}
            # shellcheck disable=SC2086
            try real "$name/$tag" "$OUT/real/${name}_$tag.mlpackage" convert "$path" \
                -o "$OUT/real/${name}_$tag.mlpackage" $args $opts
        done
    done <<<"$REAL"
}

transformers() {
    local t=$CACHE/transformers
    [ -d "$t" ] || { echo "loader_sweep: $t absent: transformers skipped"; return; }
    mkdir -p "$OUT/tf"
    for f in "$t"/*.onnx; do
        local n
        n=$(basename "$f" .onnx)
        for m in "fp16_ios15:" "fp32_ios17:--target ios17 --precision fp32" \
                 "fp16_ios18:--target ios18" "fp32_ios18:--target ios18 --precision fp32"; do
            local tag=${m%%:*} opts=${m#*:}
            # shellcheck disable=SC2086
            try transformers "$n/$tag" "$OUT/tf/${n}_$tag.mlpackage" convert "$f" \
                -o "$OUT/tf/${n}_$tag.mlpackage" -i "$t/$n.inputs.npz" $opts
        done
    done
    local flex=("bert_enum|bert|--shape input_ids=1,[1|9|20|128] --shape attention_mask=1,[1|9|20|128]"
                "llama_flex|llama|--shape input_ids=1,1..512 --shape position_ids=1,1..512"
                "gpt2_flex|gpt2|--shape input_ids=1,1..512 --shape position_ids=1,1..512 --shape past_key_0=1,4,0..512,16 --shape past_value_0=1,4,0..512,16 --shape past_key_1=1,4,0..512,16 --shape past_value_1=1,4,0..512,16"
                "gpt2_ctx|gpt2|--target ios18 --context 64 --shape input_ids=1,1 --shape position_ids=1,1 --cache-length position_ids"
                "gpt2_fns|gpt2|--target ios18 --context 64 --function prefill:input_ids=1,16:position_ids=1,16 --function decode:input_ids=1,1:position_ids=1,1 --cache-length position_ids")
    for e in "${flex[@]}"; do
        IFS='|' read -r label n args <<<"$e"
        [ -f "$t/$n.onnx" ] || continue
        for m in "fp16:" "fp32:--precision fp32"; do
            local tag=${m%%:*} opts=${m#*:} tgts=("--target ios18" "")
            [[ $args == *--target* ]] && tgts=("")
            for tg in "${tgts[@]}"; do
                local tn=${tg:+_ios18}
                # shellcheck disable=SC2086
                try transformers "$label$tn/$tag" "$OUT/tf/$label${tn}_$tag.mlpackage" convert \
                    "$t/$n.onnx" -o "$OUT/tf/$label${tn}_$tag.mlpackage" $args $tg $opts
            done
        done
    done
}

fix() {
    [ -d "$SHARED/golden" ] || { echo "loader_sweep: $SHARED/golden absent: fix skipped"; return; }
    mkdir -p "$OUT/fix"
    for g in "$SHARED"/golden/*.mlpackage "$SHARED"/golden/*.mlmodel tests/data/*.mlpackage; do
        [ -e "$g" ] || continue
        local n
        n=$(basename "$g")
        n=${n%.*}
        try fix "$n" "$OUT/fix/$n.mlpackage" fix "$g" -o "$OUT/fix/$n.mlpackage"
        try fix "$n/ios18" "$OUT/fix/${n}_ios18.mlpackage" fix "$g" -o "$OUT/fix/${n}_ios18.mlpackage" \
            --target ios18
    done
}

# coremltools-made packages re-targeted and re-typed by convert, and compressed as packages
retarget() {
    mkdir -p "$OUT/retarget"
    for g in "$SHARED"/golden/*.mlpackage tests/data/*.mlpackage tests/data/ct/*.mlpackage; do
        [ -e "$g" ] || continue
        local n
        n=$(basename "$g" .mlpackage)
        for m in "ios18:--target ios18" "fp16:--precision fp16" "fp32:--precision fp32" \
                 "ios17_fp16:--target ios17 --precision fp16"; do
            local tag=${m%%:*} opts=${m#*:}
            # shellcheck disable=SC2086
            try retarget "$n/$tag" "$OUT/retarget/${n}_$tag.mlpackage" convert "$g" \
                -o "$OUT/retarget/${n}_$tag.mlpackage" $opts
        done
        for m in "int8:--int8" "lut4:--palettize 4" "sparse:--sparsity 0.5"; do
            local tag=${m%%:*} opts=${m#*:}
            # shellcheck disable=SC2086
            try retarget "$n/$tag" "$OUT/retarget/${n}_$tag.mlpackage" compress "$g" \
                -o "$OUT/retarget/${n}_$tag.mlpackage" --min-elements 16 $opts
        done
    done
}

compress() {
    mkdir -p "$OUT/compress"
    local models="squeezenet|$SHARED/models/tv_squeezenet1_1/model.onnx|
ppocr_cls|$CACHE/ocr-models-1.4.2/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx|--shape x=1,3,48,192
hifigan|$SHARED/models/hifigan_small_arch/model.onnx|--shape mel=1,80,32
vit|$CACHE/transformers/vit.onnx|-i $CACHE/transformers/vit.inputs.npz"
    local modes=("int8|16|--int8" "int8_tensor|16|--int8 --per-tensor" "int8_zp|16|--int8 --zero-point"
                 "int4_block32|18|--int4 --block 32" "int8_block32|18|--int8 --block 32"
                 "lut1|16|--palettize 1" "lut2|16|--palettize 2" "lut3|18|--palettize 3"
                 "lut4|16|--palettize 4" "lut6|16|--palettize 6" "lut8|16|--palettize 8"
                 "lut4_uniform|16|--palettize 4 --uniform" "lut4_group8|18|--palettize 4 --group 8"
                 "lut2_group4|18|--palettize 2 --group 4" "sparse|17|--sparsity 0.5"
                 "sparse_lut4|18|--sparsity 0.5 --palettize 4" "sparse_lut2|18|--sparsity 0.75 --palettize 2"
                 "lut4_embed|16|--palettize 4 --embedding")
    while IFS='|' read -r name path args; do
        [ -f "${path}" ] || { echo "loader_sweep: $path absent"; continue; }
        for e in "${modes[@]}"; do
            IFS='|' read -r mode low margs <<<"$e"
            for tv in 16 17 18; do
                [ "$tv" -ge "$low" ] || continue
                local pkg=$OUT/compress/${name}_${mode}_ios$tv.mlpackage
                # shellcheck disable=SC2086
                try compress "$name/$mode/ios$tv" "$pkg" compress "$path" -o "$pkg" --target ios$tv \
                    $args $margs
            done
        done
    done <<<"$models"
}

for p in $PARTS; do
    echo "loader_sweep: $p"
    "$p"
done

# --- Apple's loader, BATCH packages per process
: >"$OUT/verdicts.txt"
cut -f3 "$LIST" | xargs -r -n "$BATCH" env PYTHONPATH="$CT" "$PY" "$VALIDATE" --quiet \
    2>/dev/null | grep -E '^(OK|FAIL): ' >>"$OUT/verdicts.txt"
echo "loader_sweep: coremltools $(PYTHONPATH=$CT "$PY" -c 'import coremltools as c; print(c.__version__)' 2>/dev/null), $(date -u +%F)"
awk -F'\t' -v V="$OUT/verdicts.txt" '
    BEGIN { while ((getline l < V) > 0) { split(l, a, ": "); ok[a[2]] = (a[1] == "OK") } }
    { part[$1]++; if (($3 in ok) && ok[$3]) good[$1]++; else if (!($3 in ok)) miss[$1]++ }
    END { for (p in part) { t += part[p]; g += good[p];
          printf "  %-24s %4d written, %4d accepted%s\n", p, part[p], good[p],
                 miss[p] ? sprintf(" (%d not checked)", miss[p]) : "" }
          printf "  %-24s %4d written, %4d accepted\n", "total", t, g }' "$LIST" | sort
echo "loader_sweep: refused by milkit (not written): $(wc -l <"$REFUSED"), see $REFUSED"
grep '^FAIL' "$OUT/verdicts.txt" | sed 's/^/  /'
grep -q '^FAIL' "$OUT/verdicts.txt" && exit 1
exit 0
