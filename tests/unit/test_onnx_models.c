/* Real models through the ONNX front end: each converts (with the shapes and binds a user
 * would give), saves as an .mlpackage, reloads with mk_program_load and verifies. Models come
 * from tests/fetch_models.sh (npm, pinned versions, cached in tests/.cache) and the shared
 * folder; a missing model SKIPs with the reason. The two shared models with PyTorch
 * references are also run in the interpreter and compared (1e-4 + 1e-3*|ref|). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "test.h"

/* Path of model `name` from fetch_models.sh output, or NULL. */
static const char *model_path(const char *name, char *buf, size_t n)
{
    static char out[8192];
    static int fetched;
    if (!fetched) {
        fetched = 1;
        out[0] = 0;
        if (mk_test_sh(out, sizeof out, "sh tests/fetch_models.sh 2>/dev/null") < 0) out[0] = 0;
    }
    size_t ln = strlen(name);
    for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, name, ln) == 0 && l[ln] == ' ') {
            const char *p = l + ln + 1, *e = strchr(p, '\n');
            size_t k = e ? (size_t)(e - p) : strlen(p);
            if (k >= n) return NULL;
            memcpy(buf, p, k);
            buf[k] = 0;
            return mk_path_exists(buf) ? buf : NULL;
        }
    }
    return NULL;
}

static mk_program *convert_save_reload(mk_test_ctx *tc, const char *name, int n_shapes,
                                       const char *const *shapes, int n_binds,
                                       const char *const *binds, mk_program **orig)
{
    char path[2048], pkg[1024];
    const char *mp = model_path(name, path, sizeof path);
    if (!mp) return NULL;
    mk_convert_options o;
    memset(&o, 0, sizeof o);
    o.n_shapes = n_shapes;
    o.shapes = shapes;
    o.n_binds = n_binds;
    o.binds = binds;
    mk_program *p = NULL, *q = NULL;
    mk_err e = {0};
    mk_status st = mk_onnx_import(mp, &o, NULL, &p, &e);
    CHECK_MSG(st == MK_OK, "%s: %s", name, e.msg);
    if (st != MK_OK) return NULL;
    CHECK_MSG(mk_ir_verify(p, &e) == MK_OK, "%s verify: %s", name, e.msg);
    snprintf(pkg, sizeof pkg, "%s/%s.mlpackage", mk_test_tmpdir(), name);
    st = mk_program_save(p, pkg, MK_TARGET_DEFAULT, &e);
    CHECK_MSG(st == MK_OK, "%s save: %s", name, e.msg);
    if (st == MK_OK) {
        st = mk_program_load(pkg, NULL, &q, &e);
        CHECK_MSG(st == MK_OK, "%s reload: %s", name, e.msg);
        if (q) CHECK_MSG(mk_ir_verify(q, &e) == MK_OK, "%s reload verify: %s", name, e.msg);
        if (q) CHECK_EQ_INT(q->n_outputs, p->n_outputs);
    }
    if (orig)
        *orig = p;
    else
        mk_ir_program_free(p);
    return q ? q : (mk_program *)1;
}

static void done(mk_program *q)
{
    if (q && q != (mk_program *)1) mk_program_free(q);
}

#define NEED(q, name)                                                                              \
    do {                                                                                           \
        if (!(q)) SKIP("model %s unavailable (tests/fetch_models.sh: offline or no npm)", name);   \
    } while (0)

TEST(onnx_model_silero_vad)
{
    const char *shapes[] = {"input=1,512", "state=2,1,128"};
    const char *binds[] = {"sr=16000"};
    mk_program *p = NULL;
    mk_program *q = convert_save_reload(tc, "silero_vad", 2, shapes, 1, binds, &p);
    NEED(q, "silero_vad");
    if (p) {
        int lstm = 0, cond = 0;
        MK_FOR_OPS(mk_ir_main(p)->block, op)
        {
            lstm += op->kind == MK_OP_LSTM;
            cond += op->kind == MK_OP_COND;
        }
        CHECK_EQ_INT(lstm, 1);
        CHECK_EQ_INT(cond, 0); /* sr bound: every If folded */
        CHECK_EQ_INT(p->n_inputs, 2);
        mk_ir_program_free(p);
    }
    done(q);
}

TEST(onnx_model_openwakeword)
{
    const char *s1[] = {"input=1,1280"};
    mk_program *q = convert_save_reload(tc, "melspectrogram", 1, s1, 0, NULL, NULL);
    NEED(q, "melspectrogram");
    done(q);
    const char *s2[] = {"input_1=1,76,32,1"};
    q = convert_save_reload(tc, "embedding_model", 1, s2, 0, NULL, NULL);
    NEED(q, "embedding_model");
    done(q);
}

TEST(onnx_model_ppocr_det_640)
{
    const char *s[] = {"x=1,3,640,640"};
    mk_program *p = NULL;
    mk_program *q = convert_save_reload(tc, "ppocr_det", 1, s, 0, NULL, &p);
    NEED(q, "ppocr_det");
    if (p) {
        int ct = 0;
        MK_FOR_OPS(mk_ir_main(p)->block, op) ct += op->kind == MK_OP_CONV_TRANSPOSE;
        CHECK_EQ_INT(ct, 2);
        const mk_type *t = &mk_ir_main(p)->block->outputs[0]->type;
        CHECK(t->rank == 4 && t->dims[2] == 640 && t->dims[3] == 640);
        mk_ir_program_free(p);
    }
    done(q);
}

/* Flexible H/W: converts with the dims unknown, survives save/reload, and at 64x96 gives the
 * same output as a conversion fixed at 64x96 (both run in the interpreter). */
TEST(onnx_model_ppocr_det_flexible)
{
    const char *flex[] = {"x=1,3,32..1024,32..1024"}, *fixed[] = {"x=1,3,64,96"};
    mk_program *p = NULL, *f = NULL;
    mk_program *q = convert_save_reload(tc, "ppocr_det", 1, flex, 0, NULL, &p);
    NEED(q, "ppocr_det");
    done(q);
    q = convert_save_reload(tc, "ppocr_det", 1, fixed, 0, NULL, &f);
    done(q);
    if (p && f) {
        CHECK_EQ_INT(p->inputs[0].flex, MK_FLEX_RANGE);
        CHECK_EQ_INT(mk_ir_main(p)->block->outputs[0]->type.dims[2], MK_DIM_UNKNOWN);
        mk_tensor_list in = {1, calloc(1, sizeof(mk_tensor))}, oa = {0, NULL}, ob = {0, NULL};
        REQUIRE(in.items);
        mk_tensor *t = &in.items[0];
        t->name = strdup(p->inputs[0].name);
        t->dtype = MK_DT_FP32;
        t->rank = 4;
        t->dims[0] = 1, t->dims[1] = 3, t->dims[2] = 64, t->dims[3] = 96;
        t->nbytes = 3 * 64 * 96 * 4;
        t->data = malloc(t->nbytes);
        REQUIRE(t->name && t->data);
        for (size_t i = 0; i < t->nbytes / 4; i++)
            ((float *)t->data)[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
        mk_run_options ro = {0};
        mk_err e = {0};
        CHECK_MSG(mk_run(p, &ro, &in, &oa, &e) == MK_OK, "flexible run: %s", e.msg);
        CHECK_MSG(mk_run(f, &ro, &in, &ob, &e) == MK_OK, "fixed run: %s", e.msg);
        if (oa.n == 1 && ob.n == 1) {
            CHECK_EQ_INT(oa.items[0].nbytes, 64 * 96 * 4);
            CHECK_EQ_INT(oa.items[0].nbytes, ob.items[0].nbytes);
            size_t bad = 0;
            for (size_t i = 0;
                 i < ob.items[0].nbytes / 4 && oa.items[0].nbytes == ob.items[0].nbytes; i++) {
                double a = ((float *)oa.items[0].data)[i], b = ((float *)ob.items[0].data)[i];
                if (!(fabs(a - b) <= 1e-6 + 1e-4 * fabs(b))) bad++;
            }
            CHECK_EQ_INT(bad, 0);
        }
        mk_tensor_list_free(&in);
        mk_tensor_list_free(&oa);
        mk_tensor_list_free(&ob);
    }
    mk_ir_program_free(p);
    mk_ir_program_free(f);
}

/* Run the converted model on the shared input and compare with PyTorch's output. */
static void check_reference(mk_test_ctx *tc, mk_program *p, const char *dir, const char *in,
                            const char *out)
{
    char ip[1024], op[1024];
    snprintf(ip, sizeof ip, "%s/%s", dir, in);
    snprintf(op, sizeof op, "%s/%s", dir, out);
    mk_tensor_list ins = {1, calloc(1, sizeof(mk_tensor))}, outs = {0, NULL};
    mk_tensor ref;
    mk_err e = {0};
    REQUIRE(ins.items && mk_npy_read(ip, &ins.items[0], &e) == MK_OK);
    free(ins.items[0].name);
    ins.items[0].name = strdup(p->inputs[0].name);
    REQUIRE(mk_npy_read(op, &ref, &e) == MK_OK);
    mk_run_options ro = {0};
    mk_status st = mk_run(p, &ro, &ins, &outs, &e);
    CHECK_MSG(st == MK_OK, "run: %s", e.msg);
    if (st == MK_OK && outs.n == 1) {
        size_t n = ref.nbytes / 4, bad = 0;
        CHECK_EQ_INT(outs.items[0].nbytes, ref.nbytes);
        double worst = 0;
        for (size_t i = 0; i < n && outs.items[0].nbytes == ref.nbytes; i++) {
            double a = ((float *)outs.items[0].data)[i], b = ((float *)ref.data)[i];
            double d = fabs(a - b);
            if (!(d <= 1e-4 + 1e-3 * fabs(b))) bad++;
            if (d > worst) worst = d;
        }
        CHECK_MSG(bad == 0, "%zu of %zu elements off (worst %g)", bad, n, worst);
    }
    mk_tensor_free(&ref);
    mk_tensor_list_free(&ins);
    mk_tensor_list_free(&outs);
}

TEST(onnx_model_hifigan_small)
{
    const char *s[] = {"mel=1,80,32"};
    mk_program *p = NULL;
    mk_program *q = convert_save_reload(tc, "hifigan_small_arch", 1, s, 0, NULL, &p);
    NEED(q, "hifigan_small_arch");
    const char *sh = mk_test_shared_dir();
    if (p && sh) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/models/hifigan_small_arch", sh);
        check_reference(tc, p, dir, "input_mel.npy", "output_audio.npy");
    }
    mk_ir_program_free(p);
    done(q);
}

TEST(onnx_model_squeezenet)
{
    mk_program *p = NULL;
    mk_program *q = convert_save_reload(tc, "tv_squeezenet1_1", 0, NULL, 0, NULL, &p);
    NEED(q, "tv_squeezenet1_1");
    const char *sh = mk_test_shared_dir();
    if (p && sh) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/models/tv_squeezenet1_1", sh);
        check_reference(tc, p, dir, "input_input.npy", "output_logits.npy");
    }
    mk_ir_program_free(p);
    done(q);
}

/* PP-OCRv4 recognition (SVTR: convs, attention matmuls, layer norms, hardswish) at 48x320 and
 * the mobile direction classifier: 320 / 4 = 80 time steps, 6625 classes out. */
TEST(onnx_model_ppocr_rec_and_cls)
{
    const char *sr[] = {"x=1,3,48,320"};
    mk_program *p = NULL;
    mk_program *q = convert_save_reload(tc, "ppocr_rec", 1, sr, 0, NULL, &p);
    NEED(q, "ppocr_rec");
    if (p) {
        const mk_type *t = &mk_ir_main(p)->block->outputs[0]->type;
        CHECK_MSG(t->rank == 3 && t->dims[1] == 40 && t->dims[2] == 6625,
                  "rec output rank %d [%lld, %lld]", t->rank, (long long)t->dims[1],
                  (long long)t->dims[2]);
        mk_ir_program_free(p);
    }
    done(q);
    const char *sc[] = {"x=1,3,48,192"};
    q = convert_save_reload(tc, "ppocr_cls", 1, sc, 0, NULL, NULL);
    NEED(q, "ppocr_cls");
    done(q);
}

/* Silero VAD v5 (@ricky0123/vad-web): an If on sr around an STFT-as-conv front end and an LSTM
 * cell; with sr bound every branch folds. */
TEST(onnx_model_silero_vad_v5)
{
    const char *shapes[] = {"input=1,512", "state=2,1,128"};
    const char *binds[] = {"sr=16000"};
    mk_program *p = NULL;
    mk_program *q = convert_save_reload(tc, "silero_vad_v5", 2, shapes, 1, binds, &p);
    NEED(q, "silero_vad_v5");
    if (p) {
        int cond = 0;
        MK_FOR_OPS(mk_ir_main(p)->block, op) cond += op->kind == MK_OP_COND;
        CHECK_EQ_INT(cond, 0);
        CHECK_EQ_INT(p->n_inputs, 2);
        CHECK_EQ_INT(p->n_outputs, 2);
        mk_ir_program_free(p);
    }
    done(q);
}
