/* backend_kserve.c — KServe / Triton, Open Inference Protocol v2:
 * POST .../v2/models/M[/versions/V]/infer.
 *
 * Owns: recognising its URLs, OIP_V2 as its only payload, the model metadata
 * at .../v2/models/M[/versions/V] and the server metadata at .../v2 (its
 * extensions, e.g. binary_tensor_data) and their parsers, and its error
 * bodies ({"error": "..."}, FastAPI's {"detail": "..."}). */
#define _POSIX_C_SOURCE 200809L

#include "backend.h"

#include "endpoint.h"
#include "model_metadata.h"
#include "payload.h"
#include "str.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- KServe v2: {"name","inputs":[{"name","datatype","shape"}],"outputs":[...]} */

static eem_status kserve_tensor_infos(json_object *list, eem_tensor_info **out, int *n,
                                      eem_error *err)
{
    *n = 0;
    *out = NULL;
    if (!list || !json_object_is_type(list, json_type_array))
        return EEM_OK;
    size_t count = json_object_array_length(list);
    eem_status st = eem_metadata_infos_new(count, out, n, err);
    if (st != EEM_OK)
        return st;
    for (size_t i = 0; i < count; i++) {
        json_object *o = json_object_array_get_idx(list, i), *nm = NULL, *dt = NULL, *sh = NULL;
        eem_tensor_info *t;
        const char *name = json_object_object_get_ex(o, "name", &nm) ? json_object_get_string(nm) : NULL;
        const char *dts = json_object_object_get_ex(o, "datatype", &dt) ? json_object_get_string(dt) : NULL;
        if ((st = eem_metadata_info_add(*out, n, name, dts, "", &t, err)) != EEM_OK)
            return st;
        t->type = eem_oip_datatype_from_name(t->type_text);
        t->is_string = strcmp(t->type_text, "BYTES") == 0;
        if (json_object_object_get_ex(o, "shape", &sh) && json_object_is_type(sh, json_type_array)) {
            size_t nd = json_object_array_length(sh);
            for (size_t d = 0; d < nd && d < EEM_TENSOR_MAX_DIMS; d++)
                t->dims[d] = eem_metadata_size_of(json_object_array_get_idx(sh, d));
            t->ndim = nd > EEM_TENSOR_MAX_DIMS ? -1 : (int)nd;
        }
    }
    return EEM_OK;
}

eem_status eem_metadata_parse_kserve(const char *body, size_t len, eem_model_metadata **out,
                                     eem_error *err)
{
    *out = NULL;
    json_object *root = NULL, *in = NULL, *outs = NULL;
    eem_status st = eem_metadata_parse_root(body, len, "KServe v2 model", &root, err);
    if (st != EEM_OK)
        return st;
    json_object_object_get_ex(root, "inputs", &in);
    json_object_object_get_ex(root, "outputs", &outs);
    st = eem_metadata_from(in, outs, kserve_tensor_infos, out, err);
    json_object_put(root);
    return st;
}

int eem_metadata_server_has_extension(const char *body, size_t len, const char *ext)
{
    json_object *root = NULL, *list = NULL;
    eem_error ignored;
    if (eem_metadata_parse_root(body, len, "server", &root, &ignored) != EEM_OK)
        return 0;
    int found = 0;
    if (json_object_object_get_ex(root, "extensions", &list) &&
        json_object_is_type(list, json_type_array))
        for (size_t i = 0; i < json_object_array_length(list); i++) {
            const char *s = json_object_get_string(json_object_array_get_idx(list, i));
            if (s && strcmp(s, ext) == 0)
                found = 1;
        }
    json_object_put(root);
    return found;
}

void eem_metadata_server_identity(const char *body, size_t len, char *buf, size_t n)
{
    json_object *root = NULL, *name = NULL, *version = NULL;
    eem_error ignored;
    if (n > 0)
        buf[0] = '\0';
    if (eem_metadata_parse_root(body, len, "server", &root, &ignored) != EEM_OK)
        return;
    json_object_object_get_ex(root, "name", &name);
    json_object_object_get_ex(root, "version", &version);
    const char *a = name ? json_object_get_string(name) : NULL;
    const char *b = version ? json_object_get_string(version) : NULL;
    snprintf(buf, n, "%s %s", a ? a : "", b ? b : "");
    json_object_put(root);
}

/* .../v2/models/M/.../infer */
static int kserve_recognises(const eem_path_segments *ps)
{
    for (int i = 0; i + 1 < ps->n; i++)
        if (eem_path_segment_is(ps, i, "v2") && eem_path_segment_is(ps, i + 1, "models") &&
            i + 3 < ps->n && eem_path_segment_is(ps, ps->n - 1, "infer"))
            return i;
    return -1;
}

/* Model metadata: the predict URL without /infer; server metadata: the path
 * up to the last "/v2/models/", plus "/v2". */
static eem_status kserve_finish(eem_endpoint *ep, eem_error *err)
{
    const char *url = ep->predict_url;
    if (!eem_url_path_ends_with(url, "/infer"))
        return EEM_OK;
    ep->metadata_url = eem_url_with_path_end(url, strlen("/infer"), "");
    if (!ep->metadata_url)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory resolving the endpoint");
    const char *path;
    size_t n = eem_url_path_len(url, &path);
    const char *v2 = NULL;
    for (const char *q = path; q + 11 <= path + n; q++)
        if (strncmp(q, "/v2/models/", 11) == 0)
            v2 = q;
    if (v2) {
        size_t cut = (size_t)(path + n - (v2 + 3));
        ep->server_metadata_url = eem_url_with_path_end(url, cut, "");
        if (!ep->server_metadata_url)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory resolving the endpoint");
    }
    return EEM_OK;
}

static eem_status kserve_check_payload(const eem_spec *spec, const eem_endpoint *ep,
                                       eem_error *err)
{
    if (ep->payload_format != EEM_PAYLOAD_OIP_V2)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "PAYLOAD_FORMAT: \"%s\" cannot be sent to a KServe v2 server (%s); "
                             "accepted: OIP_V2",
                             eem_payload_format_name(ep->payload_format), ep->display_url);
    if (spec->columnar)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "REQUEST_LAYOUT: \"COLUMNAR\" (TF Serving \"inputs\") cannot be "
                             "sent to %s (OIP_V2 is already columnar, %s); accepted there: ROW",
                             ep->display_url, eem_protocol_name(ep->protocol));
    if (spec->signature_name)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "SIGNATURE_NAME: \"%s\" cannot be sent to %s (%s OIP_V2 has no "
                             "signature_name); use a TF Serving URL, AI Platform, or Vertex "
                             ":rawPredict",
                             spec->signature_name, ep->display_url, eem_protocol_name(ep->protocol));
    return EEM_OK;
}

static eem_status kserve_parse_metadata(const char *body, size_t len, const eem_spec *spec,
                                        eem_model_metadata **out, eem_error *err)
{
    (void)spec;
    return eem_metadata_parse_kserve(body, len, out, err);
}

static int kserve_error_message(const char *body, size_t len, char *buf, size_t buflen)
{
    return eem_backend_json_error(body, len, 0, 1, buf, buflen);
}

const eem_backend_ops eem_backend_kserve_v2 = {
    .protocol = EEM_PROTO_KSERVE_V2,
    .default_format = EEM_PAYLOAD_OIP_V2,
    .recognises = kserve_recognises,
    .finish = kserve_finish,
    .check_payload = kserve_check_payload,
    .parse_metadata = kserve_parse_metadata,
    .error_message = kserve_error_message,
};
