"""milkit.coremltools.enable(): make coremltools.models.MLModel.predict run on Linux through
milkit's reference CPU interpreter (packages on disk, and the in-memory ML Programs that
coremltools.convert returns, which it saves to a temporary package first). The numbers come
from milkit's interpreter, not Core ML; errors say so."""
import os
import tempfile

from . import Error, MLModel

_PREFIX = "milkit (reference CPU interpreter, not Core ML): "
_enabled = {}


def _package_of(model):
    path = getattr(model, "package_path", None)
    if path and os.path.exists(path):
        return path
    tmp = getattr(model, "_milkit_tmpdir", None)
    if tmp is None:
        tmp = tempfile.TemporaryDirectory(prefix="milkit-")
        model._milkit_tmpdir = tmp
    ext = ".mlpackage" if getattr(model, "is_package", True) else ".mlmodel"
    path = os.path.join(tmp.name, "model" + ext)
    if not os.path.exists(path):
        model.save(path)
    return path


def _runner(model, fp16_emulate):
    r = getattr(model, "_milkit_runner", None)
    if r is None:
        r = MLModel(_package_of(model), function_name=getattr(model, "function_name", None),
                    fp16_emulate=fp16_emulate)
        model._milkit_runner = r
    return r


def enable(coremltools=None, fp16_emulate=False):
    """Patch coremltools.models.MLModel (or the given module's) so predict() runs milkit.
    Returns the patched class. Idempotent; disable() restores it."""
    if coremltools is None:
        import coremltools
    cls = coremltools.models.MLModel
    if cls in _enabled:
        return cls
    original = cls.predict

    def predict(self, data, state=None):
        if type(data) not in (list, dict):
            raise TypeError(f'"data" parameter must be either a dict or list of dict, but got '
                            f'{type(data)}.')
        dicts = data if isinstance(data, list) else [data]
        for d in dicts:
            if type(d) is not dict:
                raise TypeError('"data" list must contain only dictionaries')
            if hasattr(self, "_verify_input_dict"):
                self._verify_input_dict(d)
            if hasattr(self, "_convert_tensor_to_numpy"):
                self._convert_tensor_to_numpy(d)
        try:
            return _runner(self, fp16_emulate).predict(data, state)
        except Error as e:
            raise Error(_PREFIX + str(e), e.status) from None

    def make_state(self):
        try:
            return _runner(self, fp16_emulate).make_state()
        except Error as e:
            raise Error(_PREFIX + str(e), e.status) from None

    predict.__doc__ = original.__doc__
    _enabled[cls] = (original, cls.__dict__.get("make_state"))
    cls.predict, cls.make_state = predict, make_state
    return cls


def disable(coremltools=None):
    """Undo enable()."""
    if coremltools is None:
        import coremltools
    cls = coremltools.models.MLModel
    if cls in _enabled:
        cls.predict, make_state = _enabled.pop(cls)
        if make_state is None:
            del cls.make_state
        else:
            cls.make_state = make_state
