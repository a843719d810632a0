/* libFuzzer target for the tensor file readers: an input starting with the .npy magic goes to
 * mk_npy_parse, anything else to the .npz reader (mk_npz_read_mem, the code path of
 * mk_npz_read after opening the file) with a filter that skips some members by header. Every
 * accepted tensor must re-encode and parse back to the same bytes. A memory limit of 64 MiB
 * stands in for the model check, so a small archive declaring gigabytes must be refused, not
 * allocated (the CI run also has libFuzzer's RSS limit). Built by `make fuzz`; with
 * BUILD!=fuzz, replay_main.c reruns the corpus instead. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mk_status filter(void *ud, const mk_tensor *hdr, int n_members, int *skip, mk_err *err)
{
    (void)ud;
    if (!hdr->name || hdr->data || n_members < 1) abort();
    if (hdr->name[0] == 's') *skip = 1;
    if (hdr->name[0] == 'e') return mk_err_set(err, MK_EINVAL, "refused %s", hdr->name);
    return MK_OK;
}

static void roundtrip(const mk_tensor *t)
{
    mk_buf b;
    mk_buf_init(&b, NULL);
    mk_err e = {MK_OK, {0}};
    if (mk_npy_encode(t, &b, &e) == MK_OK) {
        mk_tensor u;
        if (mk_npy_parse(b.data, b.len, "re.npy", &u, &e) != MK_OK) abort();
        if (u.dtype != t->dtype || u.rank != t->rank || u.nbytes != t->nbytes ||
            (u.nbytes && memcmp(u.data, t->data, u.nbytes) != 0))
            abort();
        mk_tensor_free(&u);
    } else if (!e.msg[0] || strchr(e.msg, '\n')) {
        abort();
    }
    mk_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mk_set_memory_limit((size_t)64 << 20);
    mk_err e = {MK_OK, {0}};
    if (size >= 6 && memcmp(data, "\x93NUMPY", 6) == 0) {
        mk_tensor t;
        if (mk_npy_parse(data, size, "fuzz.npy", &t, &e) == MK_OK) {
            roundtrip(&t);
            mk_tensor_free(&t);
        } else if (!e.msg[0] || strchr(e.msg, '\n')) {
            abort();
        }
        return 0;
    }
    mk_tensor_list l;
    int filtered = size > 0 && (data[size - 1] & 1);
    if (mk_npz_read_mem(data, size, "fuzz.npz", filtered ? filter : NULL, NULL, &l, &e) == MK_OK) {
        for (int i = 0; i < l.n; i++) {
            if (!l.items[i].name || (filtered && l.items[i].name[0] == 's')) abort();
            roundtrip(&l.items[i]);
        }
        mk_tensor_list_free(&l);
    } else if (!e.msg[0] || strchr(e.msg, '\n')) {
        abort(); /* every failure must carry a one-line message */
    }
    return 0;
}
