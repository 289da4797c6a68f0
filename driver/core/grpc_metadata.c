/* grpc_metadata.c — model metadata over gRPC (see grpc_metadata.h). */
#include "grpc_metadata.h"

#include "grpc_call.h"
#include "grpc_endpoint.h"
#include "grpc_frame.h"
#include "notice.h"
#include "oip_v2.pb-c.h"
#include "payload.h"
#include "str.h"
#include "tf_serving.pb-c.h"
#include "types.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIGNATURE_DEF_MAP_TYPE "type.googleapis.com/tensorflow.serving.SignatureDefMap"

static eem_model_metadata *metadata_new(size_t n_in, size_t n_out)
{
    eem_model_metadata *md = calloc(1, sizeof *md);
    if (!md)
        return NULL;
    md->inputs = calloc(n_in ? n_in : 1, sizeof *md->inputs);
    md->outputs = calloc(n_out ? n_out : 1, sizeof *md->outputs);
    if (!md->inputs || !md->outputs) {
        eem_metadata_free(md);
        return NULL;
    }
    return md;
}

static int tf_info(eem_tensor_info *ti, const char *key, const Tensorflow__Serving__TensorInfo *t)
{
    ti->name = eem_strdup(key ? key : "");
    const ProtobufCEnumValue *ev =
        protobuf_c_enum_descriptor_get_value(&tensorflow__data_type__descriptor, (int)t->dtype);
    char text[32];
    snprintf(text, sizeof text, "%s", ev ? ev->name : "DT_?");
    ti->type_text = eem_strdup(text);
    ti->type = eem_dtype_from_tf((int)t->dtype);
    ti->is_string = t->dtype == TENSORFLOW__DATA_TYPE__DT_STRING;
    const Tensorflow__TensorShapeProto *s = t->tensor_shape;
    if (!s || s->unknown_rank || s->n_dim > EEM_TENSOR_MAX_DIMS) {
        ti->ndim = -1;
    } else {
        ti->ndim = (int)s->n_dim;
        for (size_t d = 0; d < s->n_dim; d++)
            ti->dims[d] = s->dim[d]->size;
    }
    return ti->name && ti->type_text ? 0 : -1;
}

eem_status eem_grpc_metadata_parse_tfserving(const uint8_t *msg, size_t len,
                                             const char *signature, eem_model_metadata **out,
                                             eem_error *err)
{
    *out = NULL;
    const char *want = signature && *signature ? signature : EEM_METADATA_DEFAULT_SIGNATURE;
    eem_status st = EEM_OK;
    Tensorflow__Serving__SignatureDefMap *map = NULL;
    Tensorflow__Serving__GetModelMetadataResponse *r =
        tensorflow__serving__get_model_metadata_response__unpack(NULL, len, msg);
    if (!r)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "not a GetModelMetadataResponse (%zu bytes could not be parsed)", len);
    const Tensorflow__Serving__AnyMessage *any = NULL;
    for (size_t i = 0; i < r->n_metadata; i++)
        if (r->metadata[i]->key && strcmp(r->metadata[i]->key, "signature_def") == 0)
            any = r->metadata[i]->value;
    if (!any || !any->type_url || strcmp(any->type_url, SIGNATURE_DEF_MAP_TYPE) != 0) {
        st = eem_error_set(err, EEM_ERR_PROTOCOL,
                           "GetModelMetadataResponse has no signature_def of type %s",
                           SIGNATURE_DEF_MAP_TYPE);
        goto done;
    }
    map = tensorflow__serving__signature_def_map__unpack(NULL, any->value.len, any->value.data);
    if (!map) {
        st = eem_error_set(err, EEM_ERR_PROTOCOL, "signature_def is not a valid SignatureDefMap");
        goto done;
    }
    const Tensorflow__Serving__SignatureDef *sig = NULL;
    char names[300] = "";
    size_t used = 0;
    for (size_t i = 0; i < map->n_signature_def; i++) {
        const char *k = map->signature_def[i]->key ? map->signature_def[i]->key : "";
        if (strcmp(k, want) == 0)
            sig = map->signature_def[i]->value;
        else if (strncmp(k, "__", 2) != 0 && used < sizeof names)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s\"%s\"",
                                     used ? ", " : "", k);
    }
    if (!sig) {
        st = eem_error_set(err, EEM_ERR_INVALID,
                           "SIGNATURE_NAME: the model has no signature \"%s\" (signatures: %s)",
                           want, used ? names : "none");
        goto done;
    }
    eem_model_metadata *md = metadata_new(sig->n_inputs, sig->n_outputs);
    if (!md) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        goto done;
    }
    int bad = 0;
    for (size_t i = 0; i < sig->n_inputs; i++, md->n_inputs++)
        bad |= sig->inputs[i]->value ? tf_info(&md->inputs[i], sig->inputs[i]->key,
                                               sig->inputs[i]->value)
                                     : -1;
    for (size_t i = 0; i < sig->n_outputs; i++, md->n_outputs++)
        bad |= sig->outputs[i]->value ? tf_info(&md->outputs[i], sig->outputs[i]->key,
                                                sig->outputs[i]->value)
                                      : -1;
    if (bad) {
        eem_metadata_free(md);
        st = eem_error_set(err, EEM_ERR_PROTOCOL, "signature \"%s\" has an empty tensor entry",
                           want);
        goto done;
    }
    *out = md;
done:
    if (map)
        tensorflow__serving__signature_def_map__free_unpacked(map, NULL);
    tensorflow__serving__get_model_metadata_response__free_unpacked(r, NULL);
    return st;
}

static int oip_info(eem_tensor_info *ti, const Inference__ModelMetadataResponse__TensorMetadata *t)
{
    ti->name = eem_strdup(t->name ? t->name : "");
    ti->type_text = eem_strdup(t->datatype ? t->datatype : "");
    ti->type = eem_oip_datatype_from_name(t->datatype);
    ti->is_string = t->datatype && strcmp(t->datatype, "BYTES") == 0;
    if (t->n_shape > EEM_TENSOR_MAX_DIMS) {
        ti->ndim = -1;
    } else {
        ti->ndim = (int)t->n_shape;
        for (size_t d = 0; d < t->n_shape; d++)
            ti->dims[d] = t->shape[d];
    }
    return ti->name && ti->type_text ? 0 : -1;
}

eem_status eem_grpc_metadata_parse_oip(const uint8_t *msg, size_t len, eem_model_metadata **out,
                                       eem_error *err)
{
    *out = NULL;
    Inference__ModelMetadataResponse *r = inference__model_metadata_response__unpack(NULL, len, msg);
    if (!r)
        return eem_error_set(err, EEM_ERR_PROTOCOL,
                             "not a ModelMetadataResponse (%zu bytes could not be parsed)", len);
    eem_status st = EEM_OK;
    eem_model_metadata *md = metadata_new(r->n_inputs, r->n_outputs);
    if (!md) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    } else {
        int bad = 0;
        for (size_t i = 0; i < r->n_inputs; i++, md->n_inputs++)
            bad |= oip_info(&md->inputs[i], r->inputs[i]);
        for (size_t i = 0; i < r->n_outputs; i++, md->n_outputs++)
            bad |= oip_info(&md->outputs[i], r->outputs[i]);
        if (bad) {
            eem_metadata_free(md);
            md = NULL;
            st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        }
    }
    inference__model_metadata_response__free_unpacked(r, NULL);
    *out = md;
    return st;
}

/* The request message of the metadata call, packed (malloc'ed). */
static uint8_t *pack_request(const eem_endpoint *ep, const eem_spec *spec, size_t *len)
{
    const eem_grpc_target *t = ep->grpc;
    uint8_t *buf = NULL;
    if (t->service == EEM_GRPC_SERVICE_TFSERVING) {
        Tensorflow__Serving__ModelSpec ms = TENSORFLOW__SERVING__MODEL_SPEC__INIT;
        Tensorflow__Serving__Int64Value v = TENSORFLOW__SERVING__INT64_VALUE__INIT;
        ms.name = t->model;
        if (t->version) {
            v.value = strtoll(t->version, NULL, 10);
            ms.version_choice_case = TENSORFLOW__SERVING__MODEL_SPEC__VERSION_CHOICE_VERSION;
            ms.version = &v;
        } else if (t->label) {
            ms.version_choice_case = TENSORFLOW__SERVING__MODEL_SPEC__VERSION_CHOICE_VERSION_LABEL;
            ms.version_label = t->label;
        }
        if (spec->signature_name)
            ms.signature_name = spec->signature_name;
        char *field = "signature_def";
        Tensorflow__Serving__GetModelMetadataRequest rq =
            TENSORFLOW__SERVING__GET_MODEL_METADATA_REQUEST__INIT;
        rq.model_spec = &ms;
        rq.n_metadata_field = 1;
        rq.metadata_field = &field;
        *len = tensorflow__serving__get_model_metadata_request__get_packed_size(&rq);
        if ((buf = malloc(*len ? *len : 1)))
            tensorflow__serving__get_model_metadata_request__pack(&rq, buf);
    } else {
        Inference__ModelMetadataRequest rq = INFERENCE__MODEL_METADATA_REQUEST__INIT;
        rq.name = t->model;
        if (t->version)
            rq.version = t->version;
        *len = inference__model_metadata_request__get_packed_size(&rq);
        if ((buf = malloc(*len ? *len : 1)))
            inference__model_metadata_request__pack(&rq, buf);
    }
    return buf;
}

eem_status eem_grpc_metadata_check_at_open(eem_spec *spec, const eem_source *src,
                                           const eem_endpoint *ep, const char *const *headers,
                                           eem_error *err)
{
    const eem_grpc_target *t = ep->grpc;
    eem_payload_format check_as;
    switch (ep->payload_format) {
    case EEM_PAYLOAD_GRPC_TF_TENSORS:
        check_as = EEM_PAYLOAD_RAW_JSON; /* numeric [N,H,W,C] tensors per key */
        break;
    case EEM_PAYLOAD_GRPC_SERIALIZED_TF_TENSORS:
        check_as = EEM_PAYLOAD_SERIALIZED_TF_TENSORS;
        break;
    case EEM_PAYLOAD_GRPC_OIP_V2:
        check_as = EEM_PAYLOAD_OIP_V2;
        break;
    default:
        return EEM_OK; /* tf.Example models take one string tensor: nothing to compare */
    }
    if (!t || !ep->metadata_url || t->service == EEM_GRPC_SERVICE_VERTEX)
        return EEM_OK;
    size_t len = 0;
    uint8_t *msg = pack_request(ep, spec, &len);
    if (!msg)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    char *answer = NULL;
    size_t answer_len = 0;
    eem_error call_err;
    eem_grpc_call_failure failure;
    eem_status st = eem_grpc_call_blocking(ep->metadata_url, msg, len, headers,
                                           EEM_METADATA_MAX_RETRY, EEM_METADATA_TIMEOUT_S,
                                           &answer, &answer_len, &failure, &call_err);
    free(msg);
    /* as over REST (metadata.c): a server that cannot be reached fails the
     * open; one without the metadata method (NOT_FOUND, UNIMPLEMENTED: the
     * gRPC forms of 404/405) is not checked, silently; any other failure
     * skips the check with a notice saying why */
    if (st == EEM_ERR_NOMEM || (st != EEM_OK && failure.unreachable))
        return eem_error_set(err, st, "%s%s", st == EEM_ERR_NOMEM ? "" : "model metadata check at open: ",
                             call_err.msg);
    if (st != EEM_OK) {
        if (failure.grpc_code != EEM_GRPC_NOT_FOUND && failure.grpc_code != EEM_GRPC_UNIMPLEMENTED)
            eem_notice("model metadata check skipped: %s; the descriptor is used as written "
                       "(EEMODEL_CHECK_METADATA=NO skips the check)",
                       call_err.msg);
        return EEM_OK;
    }
    eem_model_metadata *md = NULL;
    if (t->service == EEM_GRPC_SERVICE_TFSERVING)
        st = eem_grpc_metadata_parse_tfserving((const uint8_t *)answer, answer_len,
                                               spec->signature_name, &md, err);
    else
        st = eem_grpc_metadata_parse_oip((const uint8_t *)answer, answer_len, &md, err);
    free(answer);
    char where[512];
    eem_url_for_display(ep->metadata_url, where, sizeof where);
    if (st != EEM_OK)
        return eem_error_prefix(err, "model metadata from %s", where);
    eem_sent_input *in = calloc((size_t)(src->n_keys > 0 ? src->n_keys : 1), sizeof *in);
    if (!in) {
        eem_metadata_free(md);
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < src->n_keys; i++) {
        in[i].key = src->keys[i].key;
        in[i].type = src->keys[i].send_type;
        in[i].channels = src->keys[i].n_bands;
    }
    st = eem_metadata_check(md, where, spec, check_as, in, src->n_keys,
                            spec->tile_h + 2 * spec->overlap_y, spec->tile_w + 2 * spec->overlap_x,
                            err);
    free(in);
    eem_metadata_free(md);
    return st;
}
