/* Private to src/coreml: short names for the protobuf-c types of our Core ML proto subset,
 * the protobuf-c allocator adapter, the nesting-depth guard, blob-storage (weight.bin)
 * constants, and the in-memory reader entry point the fuzzer uses. Nothing outside
 * src/coreml (and tests/fuzz) includes this header. */
#ifndef MK_COREML_INT_H
#define MK_COREML_INT_H

#include <protobuf-c/protobuf-c.h>

#include "ir/ir.h"
#include "proto/MIL.pb-c.h"
#include "proto/Model.pb-c.h"

typedef CoreML__Specification__Model PbModel;
typedef CoreML__Specification__ModelDescription PbDesc;
typedef CoreML__Specification__FeatureDescription PbFeature;
typedef CoreML__Specification__FeatureType PbFeatureType;
typedef CoreML__Specification__ArrayFeatureType PbArrayType;
typedef CoreML__Specification__ArrayFeatureType__Shape PbShape;
typedef CoreML__Specification__ArrayFeatureType__EnumeratedShapes PbEnumShapes;
typedef CoreML__Specification__ArrayFeatureType__ShapeRange PbShapeRange;
typedef CoreML__Specification__SizeRange PbSizeRange;
typedef CoreML__Specification__Metadata PbMeta;
typedef CoreML__Specification__Metadata__UserDefinedEntry PbMetaEntry;
typedef CoreML__Specification__MILSpec__Program PbProgram;
typedef CoreML__Specification__MILSpec__Program__FunctionsEntry PbFuncEntry;
typedef CoreML__Specification__MILSpec__Program__AttributesEntry PbProgAttr;
typedef CoreML__Specification__MILSpec__Function PbFunction;
typedef CoreML__Specification__MILSpec__Function__BlockSpecializationsEntry PbBlockEntry;
typedef CoreML__Specification__MILSpec__Block PbBlock;
typedef CoreML__Specification__MILSpec__Operation PbOp;
typedef CoreML__Specification__MILSpec__Operation__InputsEntry PbOpInput;
typedef CoreML__Specification__MILSpec__Operation__AttributesEntry PbOpAttr;
typedef CoreML__Specification__MILSpec__Argument PbArgument;
typedef CoreML__Specification__MILSpec__Argument__Binding PbBinding;
typedef CoreML__Specification__MILSpec__NamedValueType PbNamedType;
typedef CoreML__Specification__MILSpec__ValueType PbValueType;
typedef CoreML__Specification__MILSpec__TensorType PbTensorType;
typedef CoreML__Specification__MILSpec__DictionaryType PbDictType;
typedef CoreML__Specification__MILSpec__Dimension PbDim;
typedef CoreML__Specification__MILSpec__Dimension__ConstantDimension PbDimConst;
typedef CoreML__Specification__MILSpec__Dimension__UnknownDimension PbDimUnknown;
typedef CoreML__Specification__MILSpec__Value PbValue;
typedef CoreML__Specification__MILSpec__Value__ImmediateValue PbImmediate;
typedef CoreML__Specification__MILSpec__Value__BlobFileValue PbBlobValue;
typedef CoreML__Specification__MILSpec__TensorValue PbTensorValue;
typedef CoreML__Specification__MILSpec__TensorValue__RepeatedFloats PbFloats;
typedef CoreML__Specification__MILSpec__TensorValue__RepeatedDoubles PbDoubles;
typedef CoreML__Specification__MILSpec__TensorValue__RepeatedInts PbInts;
typedef CoreML__Specification__MILSpec__TensorValue__RepeatedLongInts PbLongInts;
typedef CoreML__Specification__MILSpec__TensorValue__RepeatedBools PbBools;
typedef CoreML__Specification__MILSpec__TensorValue__RepeatedStrings PbStrings;
typedef CoreML__Specification__MILSpec__TensorValue__RepeatedBytes PbBytes;
typedef CoreML__Specification__MILSpec__DictionaryValue PbDictValue;
typedef CoreML__Specification__MILSpec__DictionaryValue__KeyValuePair PbKeyValue;

/* ---- protobuf-c allocation through an mk_allocator ---- */
typedef struct mk_ml_pballoc {
    ProtobufCAllocator pb;
    const mk_allocator *alloc;
    int oom; /* set when an allocation failed (tells OOM apart from corrupt input) */
} mk_ml_pballoc;
void mk_ml_pballoc_init(mk_ml_pballoc *a, const mk_allocator *alloc);

/* Deepest message nesting the reader accepts (Block -> Operation -> Block ... and
 * ValueType -> ListType -> ValueType ...); deeper input is refused before unpacking, so
 * neither protobuf-c nor the IR builder can recurse without bound. */
#define MK_ML_MAX_DEPTH 100
/* 1 when the message nesting of buf (as message desc) stays within max_depth. Malformed
 * wire data also returns 1: the real parser reports it. */
int mk_ml_depth_ok(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t n,
                   int max_depth);

/* ---- blob storage v2 (weight.bin) ---- */
#define MK_BLOB_HEADER 64
#define MK_BLOB_META 64
#define MK_BLOB_ALIGN 64
#define MK_BLOB_SENTINEL 0xDEADBEEFu
#define MK_BLOB_VERSION 2
#define MK_BLOB_FILE "@model_path/weights/weight.bin"
/* Blob dtype code for a MIL dtype; 0 when the dtype cannot live in a blob. */
unsigned mk_ml_blob_code(mk_dtype t);
const char *mk_ml_blob_code_name(unsigned code);

/* ---- reader ---- */
/* Build a program from a serialized Model held in memory. label names the model in
 * messages. Blob values resolve against the single weight file image (weights, wn), which
 * may be NULL; constants borrow from it, so it must outlive the program. */
mk_status mk_ml_load_mem(const void *spec, size_t n, const char *label, const void *weights,
                         size_t wn, const mk_allocator *alloc, mk_program **out, mk_err *e);

/* ---- writer ---- */
/* The serialized Model (model.mlmodel bytes) of p for target (MK_TARGET_DEFAULT: p's own),
 * without touching the file system; *out is allocated with p->alloc (free with
 * mk_free(p->alloc, *out, *n)). Blob offsets are those a weight.bin would get. */
mk_status mk_ml_encode(mk_program *p, int target, uint8_t **out, size_t *n, mk_err *e);

/* Widen b of every select whose cond is wider than a and b to cond's shape (select_bcast.c):
 * coremltools types select's output from a and b alone. */
mk_status mk_coreml_widen_selects(mk_program *p, mk_block *b, mk_err *e);

#endif
