/* A tiny ONNX model builder for tests: builds an Onnx__ModelProto in C with protobuf-c, packs
 * it and imports it from memory. Everything is tracked and freed by ob_free. Test-only. */
#ifndef MK_TEST_ONNX_BUILD_H
#define MK_TEST_ONNX_BUILD_H

#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "onnx/onnx.pb-c.h"

#define OB_MAX 256

typedef struct ob {
    void *ptrs[4096];
    int n_ptrs;
    Onnx__ModelProto m;
    Onnx__OperatorSetIdProto opset, *opsets[1];
    Onnx__GraphProto *g; /* the graph being built (main graph or a branch) */
    Onnx__GraphProto main;
    Onnx__NodeProto *nodes[OB_MAX];
    Onnx__TensorProto *inits[OB_MAX];
    Onnx__ValueInfoProto *ins[OB_MAX], *outs[OB_MAX];
    unsigned char *packed;
    size_t packed_len;
} ob;

static inline void *ob_alloc(ob *b, size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (b->n_ptrs < 4096) b->ptrs[b->n_ptrs++] = p;
    return p;
}

static inline char *ob_str(ob *b, const char *s)
{
    char *d = ob_alloc(b, strlen(s) + 1);
    strcpy(d, s);
    return d;
}

static inline void ob_graph_init(Onnx__GraphProto *g)
{
    onnx__graph_proto__init(g);
}

static inline void ob_init(ob *b, int opset)
{
    memset(b, 0, sizeof *b);
    onnx__model_proto__init(&b->m);
    onnx__operator_set_id_proto__init(&b->opset);
    b->opset.has_version = 1;
    b->opset.version = opset;
    b->opset.domain = ob_str(b, "");
    b->opsets[0] = &b->opset;
    b->m.n_opset_import = 1;
    b->m.opset_import = b->opsets;
    b->m.has_ir_version = 1;
    b->m.ir_version = 8;
    ob_graph_init(&b->main);
    b->main.name = ob_str(b, "g");
    b->main.node = b->nodes;
    b->main.initializer = b->inits;
    b->main.input = b->ins;
    b->main.output = b->outs;
    b->m.graph = &b->main;
    b->g = &b->main;
}

/* Value info with elem type et; dims < 0 become dim_param "N"; rank < 0 means no shape. */
static inline Onnx__ValueInfoProto *ob_vi(ob *b, const char *name, int et, int rank,
                                          const int64_t *dims)
{
    Onnx__ValueInfoProto *vi = ob_alloc(b, sizeof *vi);
    onnx__value_info_proto__init(vi);
    vi->name = ob_str(b, name);
    if (et <= 0) return vi;
    Onnx__TypeProto *tp = ob_alloc(b, sizeof *tp);
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = ob_alloc(b, sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = et;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    if (rank >= 0) {
        Onnx__TensorShapeProto *sh = ob_alloc(b, sizeof *sh);
        onnx__tensor_shape_proto__init(sh);
        sh->n_dim = (size_t)rank;
        sh->dim = ob_alloc(b, sizeof(void *) * (size_t)(rank ? rank : 1));
        for (int i = 0; i < rank; i++) {
            Onnx__TensorShapeProto__Dimension *d = ob_alloc(b, sizeof *d);
            onnx__tensor_shape_proto__dimension__init(d);
            if (dims[i] >= 0) {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                d->dim_value = dims[i];
            } else {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                d->dim_param = ob_str(b, "N");
            }
            sh->dim[i] = d;
        }
        tt->shape = sh;
    }
    return vi;
}

static inline void ob_input(ob *b, const char *name, int et, int rank, const int64_t *dims)
{
    b->g->input[b->g->n_input++] = ob_vi(b, name, et, rank, dims);
}

static inline void ob_output(ob *b, const char *name)
{
    b->g->output[b->g->n_output++] = ob_vi(b, name, 0, -1, NULL);
}

static inline Onnx__TensorProto *ob_tensor(ob *b, const char *name, int et, int rank,
                                           const int64_t *dims, const void *raw, size_t raw_len)
{
    Onnx__TensorProto *t = ob_alloc(b, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = ob_str(b, name);
    t->has_data_type = 1;
    t->data_type = et;
    t->n_dims = (size_t)rank;
    t->dims = ob_alloc(b, sizeof(int64_t) * (size_t)(rank ? rank : 1));
    for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
    if (raw) {
        t->has_raw_data = 1;
        t->raw_data.len = raw_len;
        t->raw_data.data = ob_alloc(b, raw_len);
        memcpy(t->raw_data.data, raw, raw_len);
    }
    return t;
}

static inline size_t ob_numel(int rank, const int64_t *dims)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    return n;
}

static inline void ob_init_f(ob *b, const char *name, int rank, const int64_t *dims, const float *v)
{
    b->g->initializer[b->g->n_initializer++] =
        ob_tensor(b, name, 1, rank, dims, v, 4 * ob_numel(rank, dims));
}

static inline void ob_init_i(ob *b, const char *name, int rank, const int64_t *dims,
                             const int64_t *v)
{
    b->g->initializer[b->g->n_initializer++] =
        ob_tensor(b, name, 7, rank, dims, v, 8 * ob_numel(rank, dims));
}

/* A node; ins/outs are comma-separated names (an empty field is an omitted input). */
static inline char **ob_split(ob *b, const char *s, size_t *n)
{
    char **v = ob_alloc(b, sizeof(char *) * 32);
    *n = 0;
    if (!s) return v;
    const char *p = s;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char *x = ob_alloc(b, len + 1);
        memcpy(x, p, len);
        v[(*n)++] = x;
        if (!e) break;
        p = e + 1;
    }
    return v;
}

static inline Onnx__NodeProto *ob_node(ob *b, const char *op, const char *ins, const char *outs)
{
    Onnx__NodeProto *n = ob_alloc(b, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = ob_str(b, op);
    n->input = ob_split(b, ins, &n->n_input);
    n->output = ob_split(b, outs, &n->n_output);
    n->name = ob_str(b, n->n_output ? n->output[0] : op);
    n->attribute = ob_alloc(b, sizeof(void *) * 16);
    b->g->node[b->g->n_node++] = n;
    return n;
}

static inline Onnx__AttributeProto *ob_attr(ob *b, Onnx__NodeProto *n, const char *name,
                                            Onnx__AttributeProto__AttributeType t)
{
    Onnx__AttributeProto *a = ob_alloc(b, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = ob_str(b, name);
    a->has_type = 1;
    a->type = t;
    n->attribute[n->n_attribute++] = a;
    return a;
}

static inline void ob_attr_i(ob *b, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = ob_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
}

static inline void ob_attr_f(ob *b, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = ob_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
}

static inline void ob_attr_s(ob *b, Onnx__NodeProto *n, const char *name, const char *v)
{
    Onnx__AttributeProto *a = ob_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.data = (uint8_t *)ob_str(b, v);
    a->s.len = strlen(v);
}

static inline void ob_attr_ints(ob *b, Onnx__NodeProto *n, const char *name, int k,
                                const int64_t *v)
{
    Onnx__AttributeProto *a = ob_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = (size_t)k;
    a->ints = ob_alloc(b, sizeof(int64_t) * (size_t)(k ? k : 1));
    memcpy(a->ints, v, sizeof(int64_t) * (size_t)k);
}

static inline void ob_attr_t(ob *b, Onnx__NodeProto *n, const char *name, Onnx__TensorProto *t)
{
    Onnx__AttributeProto *a = ob_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    a->t = t;
}

/* Start a subgraph attribute (If branches): nodes go to it until ob_end_graph. */
static inline Onnx__GraphProto *ob_begin_graph(ob *b, Onnx__NodeProto *n, const char *name)
{
    Onnx__AttributeProto *a = ob_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH);
    Onnx__GraphProto *g = ob_alloc(b, sizeof *g);
    ob_graph_init(g);
    g->name = ob_str(b, name);
    g->node = ob_alloc(b, sizeof(void *) * 64);
    g->initializer = ob_alloc(b, sizeof(void *) * 16);
    g->input = ob_alloc(b, sizeof(void *) * 4);
    g->output = ob_alloc(b, sizeof(void *) * 8);
    a->g = g;
    b->g = g;
    return g;
}

static inline void ob_end_graph(ob *b)
{
    b->g = &b->main;
}

static inline void ob_pack(ob *b)
{
    b->packed_len = protobuf_c_message_get_packed_size(&b->m.base);
    b->packed = ob_alloc(b, b->packed_len);
    protobuf_c_message_pack(&b->m.base, b->packed);
}

static inline mk_status ob_import(ob *b, const mk_convert_options *o, mk_program **p, mk_err *e)
{
    ob_pack(b);
    memset(e, 0, sizeof *e);
    return mk_onnx_import_mem(b->packed, b->packed_len, "test.onnx", o, NULL, p, e);
}

static inline void ob_free(ob *b)
{
    for (int i = 0; i < b->n_ptrs; i++) free(b->ptrs[i]);
    b->n_ptrs = 0;
}

/* ---- inspecting results ---- */
static inline int ob_count(const mk_program *p, mk_op_kind k)
{
    int n = 0;
    MK_FOR_OPS(mk_ir_main(p)->block, op) n += op->kind == k;
    return n;
}

static inline mk_op *ob_find(const mk_program *p, mk_op_kind k)
{
    MK_FOR_OPS(mk_ir_main(p)->block, op) if (op->kind == k) return op;
    return NULL;
}

static inline const mk_type *ob_out_type(const mk_program *p, int i)
{
    return &mk_ir_main(p)->block->outputs[i]->type;
}

static inline int ob_dims_are(const mk_type *t, int rank, const int64_t *dims)
{
    if (t->rank != rank) return 0;
    for (int i = 0; i < rank; i++)
        if (t->dims[i] != dims[i]) return 0;
    return 1;
}

#endif
