"""ctypes declarations for libmilkit.so (include/milkit.h) and how the library is found:
MILKIT_LIB, then a source tree's build/{release,debug}/, then the system's libmilkit.so.0."""
import ctypes
import ctypes.util
import os

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Room for fields that later header versions append: option structs grow by a few fields
# (zero = the default), reports by whole tables (mk_convert_report gained ~14 KB of rows).
_PAD = 4096
_REPORT_PAD = 1 << 18


class Error(RuntimeError):
    """A milkit failure: str() is milkit's one-line message; .status names its kind."""

    def __init__(self, message, status="EINVAL"):
        super().__init__(message)
        self.status = status


class mk_err(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("msg", ctypes.c_char * 1024)]


class mk_tensor(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("rank", ctypes.c_int),
                ("dims", ctypes.c_int64 * 8), ("data", ctypes.c_void_p),
                ("nbytes", ctypes.c_size_t)]


class mk_tensor_list(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int), ("items", ctypes.POINTER(mk_tensor))]


class mk_run_options(ctypes.Structure):
    _fields_ = [("fp16_emulate", ctypes.c_int), ("threads", ctypes.c_int),
                ("seed", ctypes.c_ulonglong), ("_pad", ctypes.c_char * _PAD)]


class mk_convert_options(ctypes.Structure):
    _fields_ = [("target", ctypes.c_int), ("n_shapes", ctypes.c_int),
                ("shapes", ctypes.POINTER(ctypes.c_char_p)), ("n_binds", ctypes.c_int),
                ("binds", ctypes.POINTER(ctypes.c_char_p)), ("name", ctypes.c_char_p),
                ("author", ctypes.c_char_p), ("description", ctypes.c_char_p),
                ("license", ctypes.c_char_p), ("version", ctypes.c_char_p),
                ("verbose", ctypes.c_int), ("progress", ctypes.c_int),
                ("n_bind_tensors", ctypes.c_int), ("bind_tensors", ctypes.c_void_p),
                ("no_follow_links", ctypes.c_int), ("_pad", ctypes.c_char * _PAD)]


class mk_pipeline_options(ctypes.Structure):
    _fields_ = [("fix", ctypes.c_int), ("fp16", ctypes.c_int), ("int8_weights", ctypes.c_int),
                ("verbose", ctypes.c_int), ("_pad", ctypes.c_char * _PAD)]


class mk_convert_report(ctypes.Structure):
    _fields_ = [("target", ctypes.c_int), ("n_ops", ctypes.c_int), ("n_fixed", ctypes.c_int),
                ("fix_summary", ctypes.c_char * 256), ("weight_bytes", ctypes.c_ulonglong),
                ("weight_bytes_before", ctypes.c_ulonglong), ("n_fp16_ops", ctypes.c_int),
                ("n_fp32_ops", ctypes.c_int), ("n_clipped", ctypes.c_size_t),
                ("ms_load", ctypes.c_double), ("ms_fix", ctypes.c_double),
                ("ms_precision", ctypes.c_double), ("ms_write", ctypes.c_double),
                ("_pad", ctypes.c_char * _REPORT_PAD)]


class mk_finding(ctypes.Structure):
    _fields_ = [("rule", ctypes.c_char_p), ("severity", ctypes.c_int),
                ("function", ctypes.c_char_p), ("block", ctypes.c_char_p),
                ("op_index", ctypes.c_int), ("op_name", ctypes.c_char_p),
                ("op_type", ctypes.c_char_p), ("message", ctypes.c_char_p),
                ("fix", ctypes.c_char_p)]


class mk_fix_options(ctypes.Structure):
    _fields_ = [("only", ctypes.c_char_p), ("skip", ctypes.c_char_p),
                ("ane_layout", ctypes.c_int), ("no_verify", ctypes.c_int),
                ("assume_fp16", ctypes.c_int), ("seed", ctypes.c_ulonglong),
                ("inputs", ctypes.c_void_p), ("atol", ctypes.c_double), ("rtol", ctypes.c_double),
                ("_pad", ctypes.c_char * _PAD)]


class mk_fix_row(ctypes.Structure):
    _fields_ = [("rule", ctypes.c_char * 24), ("pass_", ctypes.c_char * 40),
                ("ops_changed", ctypes.c_int), ("max_err", ctypes.c_double),
                ("source_semantics", ctypes.c_int)]


class mk_fix_report(ctypes.Structure):
    _fields_ = [("n_rows", ctypes.c_int), ("rows", mk_fix_row * 48), ("verified", ctypes.c_int),
                ("max_err", ctypes.c_double), ("_pad", ctypes.c_char * _REPORT_PAD)]


P = ctypes.c_void_p
ERR = ctypes.POINTER(mk_err)
_SIGS = {
    "mk_status_name": (ctypes.c_char_p, [ctypes.c_int]),
    "mk_target_parse": (ctypes.c_int, [ctypes.c_char_p]),
    "mk_model_load": (ctypes.c_int, [ctypes.c_char_p, P, P, ctypes.POINTER(P), ERR]),
    "mk_program_free": (None, [P]),
    "mk_program_save": (ctypes.c_int, [P, ctypes.c_char_p, ctypes.c_int, ERR]),
    "mk_program_info_string": (ctypes.c_int, [P, ctypes.c_int, ctypes.POINTER(P), ERR]),
    "mk_findings_string": (ctypes.c_int, [P, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(P),
                                          ERR]),
    "mk_string_free": (None, [P]),
    "mk_session_new": (ctypes.c_int, [P, ctypes.POINTER(mk_run_options), ctypes.POINTER(P),
                                      ERR]),
    "mk_session_run": (ctypes.c_int, [P, ctypes.POINTER(mk_tensor_list),
                                      ctypes.POINTER(mk_tensor_list), P, ERR]),
    "mk_session_free": (None, [P]),
    "mk_session_new_function": (ctypes.c_int, [P, ctypes.c_char_p,
                                               ctypes.POINTER(mk_run_options), ctypes.POINTER(P),
                                               ERR]),
    "mk_session_states_get": (ctypes.c_int, [P, ctypes.POINTER(mk_tensor_list), ERR]),
    "mk_session_state_set": (ctypes.c_int, [P, ctypes.c_char_p, ctypes.POINTER(mk_tensor), ERR]),
    "mk_tensor_list_free": (None, [ctypes.POINTER(mk_tensor_list)]),
    "mk_lint": (ctypes.c_int, [P, P, ctypes.POINTER(P), ERR]),
    "mk_findings_count": (ctypes.c_int, [P]),
    "mk_findings_at": (ctypes.POINTER(mk_finding), [P, ctypes.c_int]),
    "mk_findings_free": (None, [P]),
    "mk_fix": (ctypes.c_int, [P, ctypes.POINTER(mk_fix_options), ctypes.POINTER(P),
                              ctypes.POINTER(mk_fix_report), ERR]),
    "mk_convert": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_char_p,
                                  ctypes.POINTER(mk_convert_options),
                                  ctypes.POINTER(mk_pipeline_options),
                                  ctypes.POINTER(mk_convert_report), ERR]),
}


def _candidates():
    env = os.environ.get("MILKIT_LIB")
    if env:
        return [env]
    out = [os.path.join(_ROOT, "build", b, "libmilkit.so") for b in ("release", "debug")]
    out = [p for p in out if os.path.exists(p)]
    found = ctypes.util.find_library("milkit")
    return out + [found or "libmilkit.so.0"]


def _load():
    errors = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            errors.append(str(e))
            continue
        for name, (res, args) in _SIGS.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        return lib, path
    raise ImportError("milkit: libmilkit.so not found (build it with `make`, install it with "
                      "`make install`, or set MILKIT_LIB): " + "; ".join(errors))


lib, path = _load()


def check(status, err):
    """Raise Error with milkit's message when status is not MK_OK."""
    if status:
        name = lib.mk_status_name(status).decode()
        msg = err.msg.decode("utf-8", "replace") or name
        raise Error(msg, name)


def take_string(ptr):
    try:
        return ctypes.string_at(ptr).decode("utf-8", "replace")
    finally:
        lib.mk_string_free(ptr)
