/* payload.h — the interface every payload format implements ("minidrivers",
 * one payload_*.c file each), and the request-body assembler they share.
 *
 * A request body is laid out as
 *     head(n) column_0 column_sep column_1 ... tail(n)
 *     column_k = column_head(k, n) part_k(inst 0) item_sep part_k(inst 1) ... column_tail(k, n)
 * where n is the number of instances and part_k(i) the k-th encoded part of
 * instance i (row bodies have one column holding whole instances; columnar
 * bodies — TF Serving "inputs", OIP v2 — one column per input key).  The heads
 * depend only on n and the first instance's shapes, so the exact size of a
 * body with one more instance is known before anything is copied: the batcher
 * fills requests up to MAX_PAYLOAD_BYTES measured on the encoded body.
 *
 * decode_response turns an answer into one tensor per (instance, declared
 * output), in (H, W, C) layout (a format answering channels-first transposes);
 * shapes are checked later by the predictor. */
#ifndef EEM_PAYLOAD_H
#define EEM_PAYLOAD_H

#include "buf.h"
#include "error.h"
#include "spec.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One tile's inputs: n_inputs tensors of shape (H, W, C), each under a key. */
typedef struct eem_instance {
    int n_inputs;
    const char *const *keys;
    const eem_tensor *const *inputs;
} eem_instance;

/* What a format needs to know besides the descriptor (filled at open). */
struct eem_grpc_target;

typedef struct eem_payload_context {
    const eem_spec *spec;
    eem_protocol protocol;
    int columnar;               /* TF Serving columnar body ({"inputs": ...}) */
    const char *signature_name; /* sent as "signature_name" when not NULL */
    int binary;                 /* OIP_V2: Triton binary tensor extension, both ways */
    const struct eem_grpc_target *grpc; /* gRPC formats: model fields (grpc_endpoint.h) */
} eem_payload_context;

/* One encoded instance: n_parts byte ranges of data (part k = column k). */
typedef struct eem_payload_fragment {
    eem_buf data;
    size_t *ends;   /* ends[k] = end offset of part k in data */
    int n_parts, cap_parts;
} eem_payload_fragment;

/* Shape and type of one input key, captured from a batch's first instance. */
typedef struct eem_payload_column {
    char *key;
    eem_dtype type;
    int ndim;
    int64_t dims[EEM_TENSOR_MAX_DIMS]; /* per instance, as sent (layout of the format) */
    size_t instance_bytes;             /* raw bytes of one instance's tensor */
} eem_payload_column;

typedef struct eem_payload_ops eem_payload_ops;

/* The instances of one request, column by column (see the layout above). */
typedef struct eem_payload_batch {
    const eem_payload_context *ctx;
    const eem_payload_ops *ops;
    int n_instances;
    int n_columns;
    eem_buf *columns;           /* n_columns: parts joined by item_sep */
    eem_payload_column *info;   /* n_info input keys of the first instance */
    int n_info;
    int cap_columns;            /* column buffers allocated (kept by eem_payload_batch_reset) */
} eem_payload_batch;

struct eem_payload_ops {
    eem_payload_format format;
    const char *name;
    const char *item_sep;   /* between instances inside a column (JSON bodies) */
    const char *column_sep; /* between columns (JSON bodies); binary bodies use none */
    /* Content-Type of the request body (NULL: application/json). */
    const char *(*content_type)(const eem_payload_context *ctx);
    /* 1 if the format can carry elements of type t (INPUT_TYPE / source type). */
    int (*can_send)(const eem_payload_context *ctx, eem_dtype t);
    /* Encode one instance into frag (parts appended; frag is reset by the caller). */
    eem_status (*encode_instance)(const eem_payload_context *ctx, const eem_instance *inst,
                                  eem_payload_fragment *frag, eem_error *err);
    /* Shape of key k as the format sends it (e.g. channels first), into col. */
    void (*describe_column)(const eem_payload_context *ctx, const eem_tensor *t,
                            eem_payload_column *col);
    /* Envelope pieces for a batch of n instances (column_head/tail may be NULL). */
    int (*head)(const eem_payload_batch *b, int n, eem_buf *out);
    int (*column_head)(const eem_payload_batch *b, int k, int n, eem_buf *out);
    int (*column_tail)(const eem_payload_batch *b, int k, int n, eem_buf *out);
    int (*tail)(const eem_payload_batch *b, int n, eem_buf *out);
    /* 1 when the head is a JSON header followed by binary data (its length is
     * sent as Inference-Header-Content-Length). */
    int (*head_is_binary_header)(const eem_payload_context *ctx);
    /* Decode the answer to a request of n_instances instances.  out has
     * n_instances * spec->n_outputs slots, filled row-major
     * (out[i * n_outputs + k] = output k of instance i); each tensor is owned by
     * the caller.  max_elements bounds every tensor's element count (a lying
     * server cannot make us allocate more than the declared tile needs).  On
     * failure no tensor is left allocated. */
    eem_status (*decode_response)(const eem_payload_context *ctx, const char *body, size_t len,
                                  int n_instances, size_t max_elements, eem_tensor **out,
                                  eem_error *err);
};

/* Set the n_instances * spec->n_outputs slots of a decode_response out
 * array to NULL; returns the slot count. */
size_t eem_payload_outputs_clear(const eem_payload_context *ctx, int n_instances,
                                 eem_tensor **out);
/* Free every tensor in those slots and set them to NULL (a failed decode). */
void eem_payload_outputs_free(const eem_payload_context *ctx, int n_instances, eem_tensor **out);

/* The ops for a format, or NULL when it is not implemented. */
const eem_payload_ops *eem_payload_ops_for(eem_payload_format f);

/* Formats (one file each). */
extern const eem_payload_ops eem_payload_serialized_tf_tensors;
extern const eem_payload_ops eem_payload_raw_json;
extern const eem_payload_ops eem_payload_nd_arrays;
extern const eem_payload_ops eem_payload_oip_v2;
/* gRPC formats (payload_grpc_tf.c, payload_grpc_oip.c) */
extern const eem_payload_ops eem_payload_grpc_tf_tensors;
extern const eem_payload_ops eem_payload_grpc_serialized_tf_tensors;
extern const eem_payload_ops eem_payload_grpc_serialized_tf_examples;
extern const eem_payload_ops eem_payload_grpc_oip_v2;

/* OIP v2 datatype names ("FP32", "UINT8", ...) <-> element types; NULL /
 * EEM_DT_NONE for anything else (BOOL, BYTES). */
const char *eem_oip_datatype_name(eem_dtype t);
eem_dtype eem_oip_datatype_from_name(const char *name);

/* ---- fragments ---- */
void eem_payload_fragment_reset(eem_payload_fragment *f);
void eem_payload_fragment_free(eem_payload_fragment *f);
/* Close the part being written (everything appended since the previous end). */
int eem_payload_fragment_end_part(eem_payload_fragment *f);
size_t eem_payload_fragment_part_len(const eem_payload_fragment *f, int k);

/* Check and encode one instance (keys, types the format can carry). */
eem_status eem_payload_encode(const eem_payload_ops *ops, const eem_payload_context *ctx,
                              const eem_instance *inst, eem_payload_fragment *frag,
                              eem_error *err);

/* ---- batches ---- */
eem_payload_batch *eem_payload_batch_new(const eem_payload_ops *ops,
                                         const eem_payload_context *ctx);
void eem_payload_batch_free(eem_payload_batch *b);
/* Empty b for the next request, keeping its column buffers' capacity (no
 * multi-megabyte allocation per request). */
void eem_payload_batch_reset(eem_payload_batch *b);
/* Exact size in bytes of the body holding b's instances plus frag (frag may be
 * NULL); inst is frag's instance (its shapes head the columns of an empty batch). */
size_t eem_payload_batch_size_with(const eem_payload_batch *b, const eem_instance *inst,
                                   const eem_payload_fragment *frag);
/* Add an encoded instance (inst gives the shapes when b is empty). */
eem_status eem_payload_batch_add(eem_payload_batch *b, const eem_instance *inst,
                                 const eem_payload_fragment *frag, eem_error *err);
/* Write the whole body into out (reset first); *binary_header_len gets the JSON
 * header length of a binary body, 0 for a plain JSON body. */
eem_status eem_payload_batch_build(const eem_payload_batch *b, eem_buf *out,
                                   size_t *binary_header_len, eem_error *err);

/* Content-Type line value of a format's request bodies. */
const char *eem_payload_content_type(const eem_payload_ops *ops, const eem_payload_context *ctx);

/* 1 if ops can carry elements of type t in ctx; else 0 and err says which
 * key, which type and what to use instead. */
eem_status eem_payload_check_input_type(const eem_payload_ops *ops,
                                        const eem_payload_context *ctx, const char *key,
                                        eem_dtype t, eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
