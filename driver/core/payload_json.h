/* payload_json.h — JSON pieces shared by the payload formats: exact number
 * formatting for requests, and for answers a depth-limited parser, the
 * server-error report, the walk over every legal answer shape and the reader
 * of nested number lists.
 *
 * Numbers are written so they read back to the same value: integers exactly
 * (64-bit included), float32 with 9 significant digits, float64 with 17, and
 * the NaN / Infinity / -Infinity literals TF Serving and Python accept.
 *
 * Answer shapes accepted (eem_json_walk_answer): the outputs under
 * "predictions" or "outputs"; either a list with one entry per instance (row:
 * each entry a bare value for a single output, or an object {output: value})
 * or an object {output: list with one entry per instance} (columnar); with a
 * single instance the batch level may be missing.  Errors name the JSON path
 * where the answer went wrong (predictions[3].probs[2][5]). */
#ifndef EEM_PAYLOAD_JSON_H
#define EEM_PAYLOAD_JSON_H

#include "buf.h"
#include "error.h"
#include "payload.h"
#include "tensor.h"

#include <json-c/json.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EEM_JSON_MAX_DEPTH 64      /* deeper answers are refused */
#define EEM_JSON_PATH_MAX 256      /* JSON path text in messages */
#define EEM_JSON_KEYS_LIST_MAX 200 /* listing of keys present, in messages */

/* Append element i of data (type t) as a JSON number literal. */
int eem_json_put_number(eem_buf *b, const void *data, eem_dtype t, size_t i);
/* Append elements [first, first+n) separated by ',' (no brackets). */
int eem_json_put_numbers(eem_buf *b, const void *data, eem_dtype t, size_t first, size_t n);
/* Append t as nested lists in its own (row-major) layout. */
int eem_json_put_nested(eem_buf *b, const eem_tensor *t);

/* Parse text as one JSON value: depth-limited, nothing but whitespace after
 * it unless end_out is given (then *end_out = offset just past the value). */
eem_status eem_json_parse(const char *text, size_t len, size_t *end_out, json_object **root,
                          eem_error *err);
/* EEM_ERR_PROTOCOL with the server's message when root has an "error" key,
 * else EEM_OK. */
eem_status eem_json_server_error(json_object *root, eem_error *err);
/* "a", "b" — the keys of an object, for messages. */
void eem_json_list_keys(json_object *obj, char *out, size_t cap);

/* Turns one output value of one instance into a tensor. */
typedef eem_status (*eem_json_value_decoder)(const eem_payload_context *ctx, json_object *v,
                                             const char *path, int output, size_t max_elements,
                                             eem_tensor **out, void *user, eem_error *err);

/* Walk every legal answer shape (see above) and decode each (instance,
 * output) with decode into out[i * n_outputs + k].  On failure every tensor
 * is freed. */
eem_status eem_json_walk_answer(const eem_payload_context *ctx, json_object *root,
                                int n_instances, size_t max_elements,
                                eem_json_value_decoder decode, void *user, eem_tensor **out,
                                eem_error *err);

/* Read a nested list of numbers (or numbers written as JSON strings) into a
 * tensor of type t (float16/bfloat16 are read as float32).  max_elements
 * bounds the element count. */
eem_status eem_json_read_nested(json_object *v, const char *path, eem_dtype t,
                                size_t max_elements, eem_tensor **out, eem_error *err);
/* Store JSON number (or numeric string) v as element i of dst (type t);
 * EEM_ERR_PROTOCOL naming path when v is not a number. */
eem_status eem_json_store_number(json_object *v, const char *path, eem_dtype t, void *dst,
                                 size_t i, eem_error *err);

/* Element type a JSON answer of declared type t is read into. */
eem_dtype eem_json_answer_type(eem_dtype t);

/* Standard JSON answer decoder: numbers read by eem_json_read_nested into the
 * declared output type; user may point to an int: 1 = channels-first answer
 * (transposed to channels-last). */
eem_status eem_json_decode_numbers(const eem_payload_context *ctx, json_object *v,
                                   const char *path, int output, size_t max_elements,
                                   eem_tensor **out, void *user, eem_error *err);

/* A whole RAW_JSON / ND_ARRAYS answer: parse body and walk it with
 * eem_json_decode_numbers (channels_first as its user flag). */
eem_status eem_json_decode_number_answer(const eem_payload_context *ctx, const char *body,
                                         size_t len, int n_instances, size_t max_elements,
                                         int channels_first, eem_tensor **out, eem_error *err);

/* Move the leading axis of a rank-3 tensor last: (C,H,W) -> (H,W,C).  A rank-4
 * tensor with a leading 1 is treated the same after dropping it.  Returns a new
 * tensor (or NULL on allocation failure); others are returned as a copy. */
eem_tensor *eem_tensor_channels_last(const eem_tensor *t);

/* 1 for every element type JSON numbers carry exactly (all but half floats). */
int eem_payload_json_can_send(const eem_payload_context *ctx, eem_dtype t);

/* The TF Serving style envelope of SERIALIZED_TF_TENSORS, RAW_JSON and
 * ND_ARRAYS bodies: {["signature_name":S,]"instances":[...]} (row) or
 * {..."inputs":{"key":[...],...}} (columnar; keyless ND_ARRAYS: "inputs":[...]). */
int eem_json_envelope_head(const eem_payload_batch *b, int n, eem_buf *out);
int eem_json_envelope_column_head(const eem_payload_batch *b, int k, int n, eem_buf *out);
int eem_json_envelope_column_tail(const eem_payload_batch *b, int k, int n, eem_buf *out);
int eem_json_envelope_tail(const eem_payload_batch *b, int n, eem_buf *out);

#ifdef __cplusplus
}
#endif
#endif
