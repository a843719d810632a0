/* MIL text printer: the program in the syntax of a compiled model's model.mil, with inputs
 * and attributes sorted by key and floats as C99 hex floats, so the output is stable for
 * diffs. Blob constants print as BLOBFILE references (their weight.bin offset when known,
 * else the offset milkit's writer would give them in program order). It does not parse. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct printer {
    FILE *f;
    const mk_program *p;
    uint64_t next_blob; /* simulated weight.bin layout for never-saved constants */
} printer;

static void print_escaped(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void print_type(FILE *f, const mk_type *t)
{
    char buf[256];
    fputs(mk_type_str(t, buf, sizeof buf), f);
}

static void print_elem(FILE *f, const mk_type *t, const mk_const *c, size_t i)
{
    const unsigned char *d = c->data;
    switch ((int)t->dtype) {
    case MK_DT_FP32: {
        float v;
        memcpy(&v, d + 4 * i, 4);
        fprintf(f, "%a", (double)v);
        break;
    }
    case MK_DT_FP16: {
        uint16_t h;
        memcpy(&h, d + 2 * i, 2);
        fprintf(f, "%a", (double)mk_f16_to_f32(h));
        break;
    }
    case MK_DT_FP64: {
        double v;
        memcpy(&v, d + 8 * i, 8);
        fprintf(f, "%a", v);
        break;
    }
    case MK_DT_BOOL: fputs(d[i] ? "true" : "false", f); break;
    case MK_DT_STRING: print_escaped(f, ((const char *const *)c->data)[i]); break;
    case MK_DT_INT8: fprintf(f, "%d", (int)(int8_t)d[i]); break;
    case MK_DT_UINT8: fprintf(f, "%u", (unsigned)d[i]); break;
    case MK_DT_INT16: {
        int16_t v;
        memcpy(&v, d + 2 * i, 2);
        fprintf(f, "%d", (int)v);
        break;
    }
    case MK_DT_UINT16: {
        uint16_t v;
        memcpy(&v, d + 2 * i, 2);
        fprintf(f, "%u", (unsigned)v);
        break;
    }
    case MK_DT_INT32: {
        int32_t v;
        memcpy(&v, d + 4 * i, 4);
        fprintf(f, "%d", (int)v);
        break;
    }
    case MK_DT_UINT32: {
        uint32_t v;
        memcpy(&v, d + 4 * i, 4);
        fprintf(f, "%u", (unsigned)v);
        break;
    }
    case MK_DT_INT64: {
        int64_t v;
        memcpy(&v, d + 8 * i, 8);
        fprintf(f, "%lld", (long long)v);
        break;
    }
    case MK_DT_UINT64: {
        uint64_t v;
        memcpy(&v, d + 8 * i, 8);
        fprintf(f, "%llu", (unsigned long long)v);
        break;
    }
    default: {
        /* sub-byte types: unpack LSB first */
        int b = mk_dtype_bits(t->dtype);
        size_t bit = i * (size_t)b;
        unsigned v = 0;
        for (int k = 0; k < b; k++, bit++) v |= (unsigned)((d[bit / 8] >> (bit % 8)) & 1u) << k;
        if (t->dtype == MK_DT_INT4 && (v & 8u))
            fprintf(f, "%d", (int)v - 16);
        else
            fprintf(f, "%u", v);
    }
    }
}

/* Nested brackets per dimension: [[1, 2], [3, 4]]. */
static void print_elems(FILE *f, const mk_type *t, const mk_const *c, int dim, size_t *idx)
{
    if (dim == t->rank) {
        print_elem(f, t, c, (*idx)++);
        return;
    }
    fputc('[', f);
    for (int64_t i = 0; i < t->dims[dim]; i++) {
        if (i) fputs(", ", f);
        print_elems(f, t, c, dim + 1, idx);
    }
    fputc(']', f);
}

static void print_const(printer *pr, const mk_value *v)
{
    FILE *f = pr->f;
    const mk_const *c = v->cst;
    print_type(f, &v->type);
    fputc('(', f);
    size_t nbytes = 0;
    int have_size = mk_type_nbytes(&v->type, &nbytes);
    if (mk_ir_const_in_blob(pr->p->spec_version, &v->type, c)) {
        uint64_t off = c->blob_offset;
        if (!off) {
            off = pr->next_blob;
            pr->next_blob = (off + 64 + nbytes + 63) & ~(uint64_t)63;
        }
        fprintf(f,
                "BLOBFILE(path = tensor<string, []>(\"@model_path/weights/weight.bin\"), "
                "offset = tensor<uint64, []>(%llu))",
                (unsigned long long)off);
    } else if (!have_size || !mk_type_is_static(&v->type) ||
               (v->type.dtype != MK_DT_STRING && nbytes > c->nbytes)) {
        fputs("?", f);
    } else {
        size_t idx = 0;
        print_elems(f, &v->type, c, 0, &idx);
    }
    fputc(')', f);
}

static void print_binding(printer *pr, const mk_value *v)
{
    if (v->is_inline || !v->name) {
        if (v->cst)
            print_const(pr, v);
        else
            fputs("?", pr->f);
    } else {
        fputs(v->name, pr->f);
    }
}

static int cmp_input(const void *a, const void *b)
{
    return strcmp((*(const mk_input *const *)a)->name, (*(const mk_input *const *)b)->name);
}

static int cmp_attr(const void *a, const void *b)
{
    return strcmp((*(const mk_attr *const *)a)->name, (*(const mk_attr *const *)b)->name);
}

static int print_block(printer *pr, const mk_block *b, int indent);

static int print_op(printer *pr, const mk_op *op, int indent)
{
    FILE *f = pr->f;
    fprintf(f, "%*s", indent, "");
    if (op->n_outputs != 1) fputc('(', f);
    for (int i = 0; i < op->n_outputs; i++) {
        if (i) fputs(", ", f);
        print_type(f, &op->outputs[i]->type);
        fprintf(f, " %s", op->outputs[i]->name);
    }
    if (op->n_outputs != 1) fputc(')', f);
    fprintf(f, " = %s(", mk_ir_op_info(op->kind)->name);

    int n = op->n_inputs > op->n_attrs ? op->n_inputs : op->n_attrs;
    size_t sorted_n = ((size_t)n + 1) * sizeof(void *);
    const void **sorted = mk_malloc(pr->p->alloc, sorted_n);
    if (!sorted) return 0;
    for (int i = 0; i < op->n_inputs; i++) sorted[i] = &op->inputs[i];
    qsort(sorted, (size_t)op->n_inputs, sizeof *sorted, cmp_input);
    for (int i = 0; i < op->n_inputs; i++) {
        const mk_input *in = sorted[i];
        fprintf(f, "%s%s = ", i ? ", " : "", in->name);
        if (in->n_args != 1) fputc('(', f);
        for (int j = 0; j < in->n_args; j++) {
            if (j) fputs(", ", f);
            print_binding(pr, in->args[j]);
        }
        if (in->n_args != 1) fputc(')', f);
    }
    fputs(")[", f);

    /* attributes: "name" merged with the rest, all sorted by key */
    for (int i = 0; i < op->n_attrs; i++) sorted[i] = &op->attrs[i];
    qsort(sorted, (size_t)op->n_attrs, sizeof *sorted, cmp_attr);
    int printed_name = op->name == NULL, first = 1;
    for (int i = 0; i <= op->n_attrs; i++) {
        const mk_attr *a = i < op->n_attrs ? sorted[i] : NULL;
        if (!printed_name && (!a || strcmp("name", a->name) < 0)) {
            fprintf(f, "%sname = tensor<string, []>(", first ? "" : ", ");
            print_escaped(f, op->name);
            fputc(')', f);
            printed_name = 1;
            first = 0;
        }
        if (!a) break;
        fprintf(f, "%s%s = ", first ? "" : ", ", a->name);
        print_binding(pr, a->value);
        first = 0;
    }
    mk_free(pr->p->alloc, sorted, sorted_n);
    fputc(']', f);
    if (op->n_blocks) {
        fputs(" {\n", f);
        for (int i = 0; i < op->n_blocks; i++)
            if (!print_block(pr, op->blocks[i], indent + 4)) return 0;
        fprintf(f, "%*s}", indent, "");
    }
    fputs(";\n", f);
    return 1;
}

static int print_block(printer *pr, const mk_block *b, int indent)
{
    FILE *f = pr->f;
    if (b->parent_op) {
        fprintf(f, "%*s(", indent, "");
        for (int i = 0; i < b->n_inputs; i++) {
            if (i) fputs(", ", f);
            print_type(f, &b->inputs[i]->type);
            fprintf(f, " %s", b->inputs[i]->name);
        }
        fputs(") {\n", f);
    }
    MK_FOR_OPS(b, op) if (!print_op(pr, op, indent + 4)) return 0;
    fprintf(f, "%*s} -> (", indent, "");
    for (int i = 0; i < b->n_outputs; i++)
        fprintf(f, "%s%s", i ? ", " : "", b->outputs[i] ? b->outputs[i]->name : "?");
    fputs(");\n", f);
    return 1;
}

mk_status mk_ir_print(const mk_program *p, FILE *f, mk_err *e)
{
    printer pr = {f, p, 64};
    fputs("program(1.0)\n", f);
    if (p->n_build_info) {
        fputs("[buildInfo = dict<tensor<string, []>, tensor<string, []>>({", f);
        for (int i = 0; i < p->n_build_info; i++) {
            fputs(i ? ", {" : "{", f);
            print_escaped(f, p->build_info[i].key);
            fputs(", ", f);
            print_escaped(f, p->build_info[i].value);
            fputc('}', f);
        }
        fputs("})]\n", f);
    }
    fputs("{\n", f);
    for (int i = 0; i < p->n_functions; i++) {
        const mk_function *fn = p->functions[i];
        int ios = mk_ir_ios_for_spec(p->spec_version);
        fprintf(f, "    func %s<ios%d>(", fn->name, ios ? ios : 15);
        for (int j = 0; j < fn->n_inputs; j++) {
            if (j) fputs(", ", f);
            if (fn->inputs[j]->is_state) fputs("state<", f);
            print_type(f, &fn->inputs[j]->type);
            fprintf(f, "%s %s", fn->inputs[j]->is_state ? ">" : "", fn->inputs[j]->name);
        }
        fputs(") {\n", f);
        if (!print_block(&pr, fn->block, 8)) return MK_OOM(e);
    }
    fputs("}\n", f);
    if (ferror(f)) return mk_err_set(e, MK_EIO, "write error while printing MIL text");
    return MK_OK;
}

mk_status mk_program_print(const mk_program *p, FILE *f, mk_err *e)
{
    return mk_ir_print(p, f, e);
}
