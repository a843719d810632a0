# Sourced by the bench scripts (POSIX sh): the convert options each real model needs, and the
# list of models that are present.

# model_args NAME: the convert options of a model from tests/fetch_models.sh ("" when none).
model_args() {
    case $1 in
    silero_vad | silero_vad_v5) echo "--shape input=1,512 --shape state=2,1,128 --bind sr=16000" ;;
    melspectrogram) echo "--shape input=1,1280" ;;
    embedding_model) echo "--shape input_1=1,76,32,1" ;;
    ppocr_det) echo "--shape x=1,3,640,640" ;;
    ppocr_rec) echo "--shape x=1,3,48,320" ;;
    ppocr_cls) echo "--shape x=1,3,48,192" ;;
    hifigan_small_arch) echo "--shape mel=1,80,32" ;;
    *) echo "" ;;
    esac
}

# bench_models: "name|path|options" lines for the models that are present, then the example.
bench_models() {
    sh tests/fetch_models.sh 2>/dev/null | while read -r name path; do
        [ -n "$name" ] && [ -f "$path" ] || continue
        echo "$name|$path|$(model_args "$name")"
    done
    echo "vocoder_example|examples/vocoder_upsampler.onnx|"
}
