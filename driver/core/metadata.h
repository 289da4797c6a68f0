/* metadata.h — model metadata published by the server, fetched and checked at open.
 *
 * TF Serving publishes GET /v1/models/M[/versions/V|/labels/L]/metadata (the
 * signature's inputs and outputs with dtypes and shapes), KServe v2 GET
 * /v2/models/M[/versions/V] (inputs/outputs with datatype and shape) and
 * GET /v2 (the server's extensions, e.g. binary_tensor_data).  At open the
 * descriptor is checked against what the model declares: input keys, element
 * types, tile shape, output names and lengths; a mismatch fails with both
 * sides shown.  Output lengths the descriptor left out (dims 1, length 0) are
 * filled in from the model.  A server that publishes nothing (any non-2xx
 * answer) is not checked.
 *
 * eem_metadata_parse_*() return an eem_model_metadata freed with
 * eem_metadata_free(). */
#ifndef EEM_METADATA_H
#define EEM_METADATA_H

#include "dtype.h"
#include "endpoint.h"
#include "error.h"
#include "source.h"
#include "spec.h"
#include "tensor.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Metadata requests are cheap and optional: few retries, short timeout. */
#define EEM_METADATA_MAX_RETRY 1
#define EEM_METADATA_TIMEOUT_S 30.0
#define EEM_METADATA_DEFAULT_SIGNATURE "serving_default"
#define EEM_KSERVE_BINARY_EXTENSION "binary_tensor_data"

typedef struct eem_tensor_info {
    char *name;
    char *type_text;  /* as published: "DT_FLOAT", "FP32" */
    eem_dtype type;   /* EEM_DT_NONE when not numeric (strings, bool) */
    int is_string;    /* DT_STRING / BYTES */
    int ndim;         /* -1: unknown rank */
    int64_t dims[EEM_TENSOR_MAX_DIMS]; /* -1: variable */
} eem_tensor_info;

typedef struct eem_model_metadata {
    eem_tensor_info *inputs;
    int n_inputs;
    eem_tensor_info *outputs;
    int n_outputs;
} eem_model_metadata;

eem_status eem_metadata_parse_tfserving(const char *body, size_t len, const char *signature,
                                        eem_model_metadata **out, eem_error *err);
eem_status eem_metadata_parse_kserve(const char *body, size_t len, eem_model_metadata **out,
                                     eem_error *err);
/* 1 if a KServe v2 server metadata body lists extension ext. */
int eem_metadata_server_has_extension(const char *body, size_t len, const char *ext);
void eem_metadata_free(eem_model_metadata *md);

/* One input key as the driver sends it. */
typedef struct eem_sent_input {
    const char *key;
    eem_dtype type;
    int channels;
} eem_sent_input;

/* Check what the descriptor sends and declares against md (published at
 * where); fill spec's undeclared output lengths.  h, w: instance tile size. */
eem_status eem_metadata_check(const eem_model_metadata *md, const char *where, eem_spec *spec,
                              eem_payload_format format, const eem_sent_input *inputs,
                              int n_inputs, int h, int w, eem_error *err);

/* Fetch and check at open (see above).  headers: NULL-terminated request
 * header lines (credentials) or NULL.  *binary_available: the KServe v2
 * server advertises the binary tensor extension. */
eem_status eem_metadata_check_at_open(eem_spec *spec, const eem_source *src,
                                      const eem_endpoint *ep, const char *const *headers,
                                      int *binary_available, eem_error *err);

/* ---- helpers for the backends' metadata parsers (backend_*.c) ---------- */
struct json_object;
/* body as a JSON object (*root owned), else EEM_ERR_PROTOCOL naming what. */
eem_status eem_metadata_parse_root(const char *body, size_t len, const char *what,
                                   struct json_object **root, eem_error *err);
/* A dimension: a JSON integer or a string holding one; -1 otherwise. */
int64_t eem_metadata_size_of(struct json_object *v);
/* An array of count infos (owned by the caller even on failure), none used yet. */
eem_status eem_metadata_infos_new(size_t count, eem_tensor_info **out, int *n, eem_error *err);
/* The next info of list with its name and type text copied (NULL: fallback). */
eem_status eem_metadata_info_add(eem_tensor_info *list, int *n, const char *name,
                                 const char *type_text, const char *fallback,
                                 eem_tensor_info **t, eem_error *err);
/* Metadata from an inputs and an outputs node, each read by read_infos. */
eem_status eem_metadata_from(struct json_object *in, struct json_object *outs,
                             eem_status (*read_infos)(struct json_object *, eem_tensor_info **,
                                                      int *, eem_error *),
                             eem_model_metadata **out, eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
