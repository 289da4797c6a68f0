/* model_metadata.h — what a server publishes about its model (inputs and
 * outputs with types and shapes), the parsers of the backends that publish
 * it (defined in backend_tfserving.c and backend_kserve.c) and the helpers
 * those parsers share.  metadata.h fetches and checks; this file only holds
 * the data, so the backends and the check do not include each other. */
#ifndef EEM_MODEL_METADATA_H
#define EEM_MODEL_METADATA_H

#include "dtype.h"
#include "error.h"
#include "tensor.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

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
/* The server's "name" and "version" of a KServe v2 server metadata body, as
 * "name version" in buf (empty when it names neither or is not JSON). */
void eem_metadata_server_identity(const char *body, size_t len, char *buf, size_t n);
void eem_metadata_free(eem_model_metadata *md);

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
