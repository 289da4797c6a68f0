/* model_metadata.c — the published model metadata and the JSON helpers the
 * backends' parsers share (see model_metadata.h). */
#include "model_metadata.h"

#include "str.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EEM_METADATA_JSON_DEPTH 32

void eem_metadata_free(eem_model_metadata *md)
{
    if (!md)
        return;
    for (int i = 0; i < md->n_inputs; i++) {
        free(md->inputs[i].name);
        free(md->inputs[i].type_text);
    }
    for (int i = 0; i < md->n_outputs; i++) {
        free(md->outputs[i].name);
        free(md->outputs[i].type_text);
    }
    free(md->inputs);
    free(md->outputs);
    free(md);
}

eem_status eem_metadata_parse_root(const char *body, size_t len, const char *what, json_object **root,
                             eem_error *err)
{
    json_tokener *tok = json_tokener_new_ex(EEM_METADATA_JSON_DEPTH);
    if (!tok)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    *root = json_tokener_parse_ex(tok, body, (int)(len > 0x7fffffff ? 0x7fffffff : len));
    enum json_tokener_error je = json_tokener_get_error(tok);
    json_tokener_free(tok);
    if (!*root || je != json_tokener_success || !json_object_is_type(*root, json_type_object)) {
        json_object_put(*root);
        *root = NULL;
        return eem_error_set(err, EEM_ERR_PROTOCOL, "%s metadata is not a JSON object", what);
    }
    return EEM_OK;
}

int64_t eem_metadata_size_of(json_object *v)
{
    if (json_object_is_type(v, json_type_int))
        return json_object_get_int64(v);
    if (json_object_is_type(v, json_type_string)) {
        char *end = NULL;
        long long x = strtoll(json_object_get_string(v), &end, 10);
        if (end && !*end)
            return x;
    }
    return -1;
}

/* An array of count tensor infos (owned by the caller even on failure), none used yet. */
eem_status eem_metadata_infos_new(size_t count, eem_tensor_info **out, int *n, eem_error *err)
{
    *n = 0;
    *out = calloc(count ? count : 1, sizeof **out);
    return *out ? EEM_OK : eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
}

/* The next info of the array with its name and type text copied (NULL: fallback). */
eem_status eem_metadata_info_add(eem_tensor_info *list, int *n, const char *name,
                           const char *type_text, const char *fallback, eem_tensor_info **t,
                           eem_error *err)
{
    *t = &list[(*n)++];
    (*t)->name = eem_strdup(name ? name : "");
    (*t)->type_text = eem_strdup(type_text ? type_text : fallback);
    (*t)->ndim = -1;
    if (!(*t)->name || !(*t)->type_text)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    return EEM_OK;
}

/* Metadata from an inputs and an outputs node, each read by read_infos. */
eem_status eem_metadata_from(json_object *in, json_object *outs,
                                eem_status (*read_infos)(json_object *, eem_tensor_info **, int *,
                                                         eem_error *),
                                eem_model_metadata **out, eem_error *err)
{
    eem_model_metadata *md = calloc(1, sizeof *md);
    if (!md)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    eem_status st = read_infos(in, &md->inputs, &md->n_inputs, err);
    if (st == EEM_OK)
        st = read_infos(outs, &md->outputs, &md->n_outputs, err);
    if (st != EEM_OK)
        eem_metadata_free(md);
    else
        *out = md;
    return st;
}

