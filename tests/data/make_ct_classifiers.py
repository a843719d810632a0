# Writes tests/data/ct_classifier_{str,int}_ios15.mlpackage with coremltools 9.0: softmax over a
# (1, 3) input, then the classify op coremltools adds for a ClassifierConfig (string labels
# cat/dog/emu, int64 labels 7/3/11). Run from the repo root with an importable coremltools.
import coremltools as ct
from coremltools.converters.mil import Builder as mb

for kind, labels in (("str", ["cat", "dog", "emu"]), ("int", [7, 3, 11])):
    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 3))], opset_version=ct.target.iOS15)
    def prog(x):
        return mb.softmax(x=x, axis=-1)

    m = ct.convert(prog, convert_to="mlprogram", classifier_config=ct.ClassifierConfig(labels),
                   minimum_deployment_target=ct.target.iOS15,
                   compute_precision=ct.precision.FLOAT32)
    m.save(f"tests/data/ct_classifier_{kind}_ios15.mlpackage")
