# Sourced by bench scripts: the real models with the convert options each needs.
# Prints "name|path|options" lines for the models that are present.
bench_models() {
    local fetched
    fetched=$(bash tests/fetch_models.sh 2>/dev/null) || true
    while read -r name path; do
        [ -n "$name" ] && [ -f "$path" ] || continue
        case "$name" in
            silero_vad) opts="--shape input=1,512 --shape state=2,1,128 --bind sr=16000" ;;
            melspectrogram) opts="--shape input=1,1280" ;;
            embedding_model) opts="--shape input_1=1,76,32,1" ;;
            ppocr_det) opts="--shape x=1,3,640,640" ;;
            hifigan_small_arch) opts="--shape mel=1,80,32" ;;
            *) opts="" ;;
        esac
        echo "$name|$path|$opts"
    done <<< "$fetched"
    echo "vocoder_example|examples/vocoder_upsampler.onnx|"
}
