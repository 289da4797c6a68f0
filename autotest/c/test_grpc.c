/* test_grpc.c — gRPC pieces without a server: message framing, status and
 * trailer lines, the retry decision, the protobuf wire reader, request bodies
 * of every gRPC payload format (decoded back with protoc-c's code; the exact
 * size the batcher predicts equals what is built), answer decoders and
 * endpoint resolution from grpc:// URLs and Vertex endpoints, Vertex's routing
 * metadata line, and the table of shared h2c connections. */
#include "check.h"

#include "endpoint.h"
#include "grpc_answer.h"
#include "grpc_endpoint.h"
#include "grpc_frame.h"
#include "grpc_h2c.h"
#include "oip_v2.pb-c.h"
#include "payload.h"
#include "pb_wire.h"
#include "tf_example.pb-c.h"
#include "tf_serving.pb-c.h"
#include "vertex_direct.pb-c.h"

#include <stdlib.h>
#include <string.h>

static eem_spec *spec_for(const char *backend, const char *bands)
{
    char name[512];
    snprintf(name, sizeof name,
             "EEMODEL:input=x.tif;%s;input_tile_size=2,2;output_bands=%s", backend, bands);
    eem_spec *s = NULL;
    eem_error err = {0};
    if (eem_spec_parse(name, NULL, &s, &err) != EEM_OK)
        fprintf(stderr, "spec %s: %s\n", name, err.msg);
    return s;
}

/* ------------------------------------------------------------- framing -- */

static void test_framing(void)
{
    uint8_t body[16] = {0};
    eem_grpc_frame_header(body, 3);
    CHECK(body[0] == 0 && body[1] == 0 && body[4] == 3);
    memcpy(body + 5, "abc", 3);
    size_t off = 0, len = 0;
    eem_error err = {0};
    CHECK_EQ_INT(eem_grpc_unframe(body, 8, 0, &off, &len, &err), EEM_OK);
    CHECK_EQ_INT(off, 5);
    CHECK_EQ_INT(len, 3);
    CHECK_EQ_INT(eem_grpc_unframe(body, 7, 0, &off, &len, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "truncated");
    CHECK_EQ_INT(eem_grpc_unframe(body, 9, 0, &off, &len, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "exactly one message");
    CHECK_EQ_INT(eem_grpc_unframe(body, 8, 2, &off, &len, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "EEMODEL_MAX_RESPONSE_BYTES");
    CHECK_EQ_INT(eem_grpc_unframe(body, 4, 0, &off, &len, &err), EEM_ERR_PROTOCOL);
    body[0] = 1;
    CHECK_EQ_INT(eem_grpc_unframe(body, 8, 0, &off, &len, &err), EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "compressed");
    /* an empty message is legal */
    uint8_t empty[5] = {0};
    CHECK_EQ_INT(eem_grpc_unframe(empty, 5, 0, &off, &len, &err), EEM_OK);
    CHECK_EQ_INT(len, 0);
    /* a 4 GiB announcement against a small body never reads past it */
    uint8_t huge[6] = {0, 0xff, 0xff, 0xff, 0xff, 7};
    CHECK_EQ_INT(eem_grpc_unframe(huge, 6, 0, &off, &len, &err), EEM_ERR_PROTOCOL);
}

static void feed(eem_grpc_status_lines *s, const char *line)
{
    eem_grpc_status_lines_feed(s, line, strlen(line));
}

static void test_status_lines(void)
{
    eem_grpc_status_lines s;
    eem_grpc_status_lines_reset(&s);
    feed(&s, "HTTP/2 200 \r\n");
    feed(&s, "content-type: application/grpc\r\n");
    feed(&s, "\r\n");
    feed(&s, "grpc-status: 14\r\n");
    feed(&s, "grpc-message: bad %C3%B1 100%25 value%0Aline2 %zz\r\n");
    CHECK(s.http2);
    CHECK_EQ_INT(s.http_status, 200);
    CHECK(s.grpc_content_type);
    CHECK_EQ_INT(eem_grpc_status_of(&s), EEM_GRPC_UNAVAILABLE);
    CHECK(strcmp(s.message, "bad \xc3\xb1 100% value line2 %zz") == 0);

    /* trailers-only OK, a new response resets */
    feed(&s, "HTTP/2 200 \r\n");
    CHECK_EQ_INT(s.status, -1);
    feed(&s, "Grpc-Status: 0\r\n");
    CHECK_EQ_INT(eem_grpc_status_of(&s), EEM_GRPC_OK);

    /* no grpc-status: the HTTP status decides */
    static const struct {
        const char *line;
        int code;
    } http[] = {{"HTTP/2 503 \r\n", 14}, {"HTTP/2 404 \r\n", 12}, {"HTTP/2 401 \r\n", 16},
                {"HTTP/2 400 \r\n", 13}, {"HTTP/2 200 \r\n", 2},  {"HTTP/1.1 429 Too\r\n", 14}};
    for (size_t i = 0; i < sizeof http / sizeof http[0]; i++) {
        eem_grpc_status_lines_reset(&s);
        feed(&s, http[i].line);
        CHECK_EQ_INT(eem_grpc_status_of(&s), http[i].code);
    }
    CHECK(!s.http2);
    /* malformed grpc-status values */
    static const char *const bad[] = {"grpc-status: 014\r\n", "grpc-status: x\r\n",
                                      "grpc-status: \r\n", "grpc-status: 1234\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        eem_grpc_status_lines_reset(&s);
        feed(&s, "HTTP/2 200 \r\n");
        feed(&s, bad[i]);
        CHECK_EQ_INT(s.status, -2);
        CHECK_EQ_INT(eem_grpc_status_of(&s), EEM_GRPC_UNKNOWN);
    }
    CHECK(strcmp(eem_grpc_status_name(8), "RESOURCE_EXHAUSTED") == 0);
    CHECK(strcmp(eem_grpc_status_name(99), "unknown status") == 0);
}

static void test_retry_decision(void)
{
    CHECK(eem_grpc_status_is_retryable(14, ""));
    CHECK(eem_grpc_status_is_retryable(4, NULL));
    CHECK(eem_grpc_status_is_retryable(10, NULL));
    CHECK(eem_grpc_status_is_retryable(8, "quota exceeded"));
    CHECK(!eem_grpc_status_is_retryable(8, "Received message larger than max (9437217 vs. 8388608)"));
    for (int c = 0; c <= 16; c++)
        if (c != 14 && c != 4 && c != 10 && c != 8)
            CHECK(!eem_grpc_status_is_retryable(c, ""));
}

static void test_pb_reader(void)
{
    eem_pb_reader r;
    eem_pb_field f;
    const uint8_t ok[] = {0x08, 0x96, 0x01, 0x12, 0x02, 'h', 'i', 0x1d, 1, 0, 0, 0};
    eem_pb_reader_init(&r, ok, sizeof ok);
    CHECK_EQ_INT(eem_pb_next(&r, &f), 1);
    CHECK(f.number == 1 && f.wire_type == EEM_PB_VARINT && f.varint == 150);
    CHECK_EQ_INT(eem_pb_next(&r, &f), 1);
    CHECK(f.number == 2 && f.len == 2 && memcmp(f.data, "hi", 2) == 0);
    CHECK_EQ_INT(eem_pb_next(&r, &f), 1);
    CHECK(f.number == 3 && f.varint == 1);
    CHECK_EQ_INT(eem_pb_next(&r, &f), 0);
    const uint8_t truncated_len[] = {0x12, 0x05, 'a'};
    eem_pb_reader_init(&r, truncated_len, sizeof truncated_len);
    CHECK_EQ_INT(eem_pb_next(&r, &f), -1);
    const uint8_t group[] = {0x0b};
    eem_pb_reader_init(&r, group, sizeof group);
    CHECK_EQ_INT(eem_pb_next(&r, &f), -1);
    const uint8_t overlong[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    eem_pb_reader_init(&r, overlong, sizeof overlong);
    CHECK_EQ_INT(eem_pb_next(&r, &f), -1);
    const uint8_t field0[] = {0x00, 0x01};
    eem_pb_reader_init(&r, field0, sizeof field0);
    CHECK_EQ_INT(eem_pb_next(&r, &f), -1);
}

/* -------------------------------------------------------- request bodies -- */

typedef struct built {
    eem_buf body;
    size_t predicted;
} built;

/* Encode n instances of keys a (uint16 2x2x1) and b (float32 2x2x2) with ops;
 * the batcher's predicted size must equal the built body. */
static built build_body(const eem_payload_ops *ops, const eem_payload_context *ctx, int n)
{
    built out = {{0}, 0};
    int64_t da[3] = {2, 2, 1}, db[3] = {2, 2, 2};
    eem_payload_batch *b = eem_payload_batch_new(ops, ctx);
    eem_payload_fragment frag = {0};
    for (int i = 0; i < n; i++) {
        eem_tensor *ta = eem_tensor_new(EEM_DT_UINT16, 3, da);
        eem_tensor *tb = eem_tensor_new(EEM_DT_FLOAT32, 3, db);
        for (int k = 0; k < 4; k++)
            ((uint16_t *)ta->data)[k] = (uint16_t)(100 * i + k);
        for (int k = 0; k < 8; k++)
            ((float *)tb->data)[k] = (float)i + 0.25f * (float)k;
        const char *keys[2] = {"a", "b"};
        const eem_tensor *inputs[2] = {ta, tb};
        eem_instance inst = {2, keys, inputs};
        eem_error err = {0};
        CHECK_EQ_INT(eem_payload_encode(ops, ctx, &inst, &frag, &err), EEM_OK);
        out.predicted = eem_payload_batch_size_with(b, &inst, &frag);
        CHECK_EQ_INT(eem_payload_batch_add(b, &inst, &frag, &err), EEM_OK);
        eem_tensor_free(ta);
        eem_tensor_free(tb);
    }
    eem_error err = {0};
    size_t bh = 99;
    CHECK_EQ_INT(eem_payload_batch_build(b, &out.body, &bh, &err), EEM_OK);
    CHECK_EQ_INT(bh, 0);
    CHECK_EQ_INT(out.body.len, out.predicted);
    CHECK_EQ_INT(eem_payload_batch_size_with(b, NULL, NULL), out.body.len);
    /* the 5-byte prefix announces the rest */
    const uint8_t *u = (const uint8_t *)out.body.data;
    size_t announced = ((size_t)u[1] << 24) | ((size_t)u[2] << 16) | ((size_t)u[3] << 8) | u[4];
    CHECK_EQ_INT(announced + 5, out.body.len);
    eem_payload_fragment_free(&frag);
    eem_payload_batch_free(b);
    return out;
}

static const Tensorflow__TensorProto *input_named(const Tensorflow__Serving__PredictRequest *r,
                                                  const char *key)
{
    for (size_t i = 0; i < r->n_inputs; i++)
        if (strcmp(r->inputs[i]->key, key) == 0)
            return r->inputs[i]->value;
    return NULL;
}

static void test_tf_tensors_body(void)
{
    eem_spec *spec = spec_for("url=grpc://127.0.0.1:1/v1/models/m/versions/7", "o:float32");
    eem_endpoint *ep = NULL;
    eem_error err = {0};
    CHECK_EQ_INT(eem_endpoint_resolve(spec, &ep, &err), EEM_OK);
    eem_payload_context ctx = {spec, ep->protocol, 0, "sig", 0, ep->grpc};
    built bb = build_body(&eem_payload_grpc_tf_tensors, &ctx, 3);
    Tensorflow__Serving__PredictRequest *r = tensorflow__serving__predict_request__unpack(
        NULL, bb.body.len - 5, (const uint8_t *)bb.body.data + 5);
    CHECK(r != NULL);
    if (r) {
        CHECK(strcmp(r->model_spec->name, "m") == 0);
        CHECK(r->model_spec->version && r->model_spec->version->value == 7);
        CHECK(strcmp(r->model_spec->signature_name, "sig") == 0);
        CHECK_EQ_INT(r->n_inputs, 2);
        const Tensorflow__TensorProto *a = input_named(r, "a"), *b = input_named(r, "b");
        CHECK(a && a->dtype == TENSORFLOW__DATA_TYPE__DT_UINT16 && a->tensor_shape->n_dim == 4);
        CHECK(a && a->tensor_shape->dim[0]->size == 3 && a->tensor_content.len == 3 * 4 * 2);
        CHECK(b && b->dtype == TENSORFLOW__DATA_TYPE__DT_FLOAT && b->tensor_content.len == 3 * 8 * 4);
        if (a && a->tensor_content.len == 24) {
            uint16_t v;
            memcpy(&v, a->tensor_content.data + 2 * 9, 2); /* instance 2, element 1 */
            CHECK_EQ_INT(v, 201);
        }
        tensorflow__serving__predict_request__free_unpacked(r, NULL);
    }
    eem_buf_free(&bb.body);
    eem_endpoint_free(ep);
    eem_spec_free(spec);
}

static void test_serialized_and_examples_bodies(void)
{
    eem_spec *spec = spec_for("url=grpc://127.0.0.1:1/v1/models/m/labels/stable", "o:float32");
    eem_endpoint *ep = NULL;
    eem_error err = {0};
    CHECK_EQ_INT(eem_endpoint_resolve(spec, &ep, &err), EEM_OK);
    eem_payload_context ctx = {spec, ep->protocol, 0, NULL, 0, ep->grpc};
    built bb = build_body(&eem_payload_grpc_serialized_tf_tensors, &ctx, 2);
    Tensorflow__Serving__PredictRequest *r = tensorflow__serving__predict_request__unpack(
        NULL, bb.body.len - 5, (const uint8_t *)bb.body.data + 5);
    CHECK(r != NULL);
    if (r) {
        CHECK(strcmp(r->model_spec->version_label, "stable") == 0);
        const Tensorflow__TensorProto *b = input_named(r, "b");
        CHECK(b && b->dtype == TENSORFLOW__DATA_TYPE__DT_STRING && b->n_string_val == 2);
        if (b && b->n_string_val == 2) {
            eem_tensor *t = NULL;
            CHECK_EQ_INT(eem_tensorproto_decode(b->string_val[1].data, b->string_val[1].len, 0, &t,
                                                &err),
                         EEM_OK);
            CHECK(t && t->ndim == 3 && t->dims[2] == 2 && ((float *)t->data)[4] == 2.0f);
            eem_tensor_free(t);
        }
        tensorflow__serving__predict_request__free_unpacked(r, NULL);
    }
    eem_buf_free(&bb.body);

    bb = build_body(&eem_payload_grpc_serialized_tf_examples, &ctx, 2);
    r = tensorflow__serving__predict_request__unpack(NULL, bb.body.len - 5,
                                                     (const uint8_t *)bb.body.data + 5);
    CHECK(r && r->n_inputs == 1 && strcmp(r->inputs[0]->key, "input") == 0);
    if (r && r->n_inputs == 1) {
        const Tensorflow__TensorProto *t = r->inputs[0]->value;
        CHECK(t->dtype == TENSORFLOW__DATA_TYPE__DT_STRING && t->n_string_val == 2);
        Tensorflow__Example *ex =
            t->n_string_val == 2
                ? tensorflow__example__unpack(NULL, t->string_val[1].len, t->string_val[1].data)
                : NULL;
        CHECK(ex && ex->features && ex->features->n_feature == 2);
        if (ex && ex->features && ex->features->n_feature == 2) {
            const Tensorflow__Feature *fa = ex->features->feature[0]->value;
            CHECK(strcmp(ex->features->feature[0]->key, "a") == 0);
            CHECK(fa->kind_case == TENSORFLOW__FEATURE__KIND_FLOAT_LIST &&
                  fa->float_list->n_value == 4 && fa->float_list->value[3] == 103.0f);
        }
        if (ex)
            tensorflow__example__free_unpacked(ex, NULL);
    }
    if (r)
        tensorflow__serving__predict_request__free_unpacked(r, NULL);
    eem_buf_free(&bb.body);
    CHECK(!eem_payload_grpc_serialized_tf_examples.can_send(&ctx, EEM_DT_FLOAT64));
    CHECK(eem_payload_grpc_serialized_tf_examples.can_send(&ctx, EEM_DT_UINT16));
    eem_endpoint_free(ep);
    eem_spec_free(spec);
}

static void test_vertex_body(void)
{
    eem_spec *spec = spec_for("endpoint=projects/p/locations/europe-west4/endpoints/123;"
                              "payload_format=GRPC_TF_TENSORS",
                              "o:float32");
    eem_endpoint *ep = NULL;
    eem_error err = {0};
    CHECK_EQ_INT(eem_endpoint_resolve(spec, &ep, &err), EEM_OK);
    CHECK(strcmp(ep->predict_url, "https://europe-west4-aiplatform.googleapis.com/"
                                  "google.cloud.aiplatform.v1.PredictionService/DirectRawPredict") ==
          0);
    CHECK(ep->google_auth);
    eem_payload_context ctx = {spec, ep->protocol, 0, NULL, 0, ep->grpc};
    built bb = build_body(&eem_payload_grpc_tf_tensors, &ctx, 2);
    Google__Cloud__Aiplatform__V1__DirectRawPredictRequest *d =
        google__cloud__aiplatform__v1__direct_raw_predict_request__unpack(
            NULL, bb.body.len - 5, (const uint8_t *)bb.body.data + 5);
    CHECK(d != NULL);
    if (d) {
        CHECK(strcmp(d->endpoint, "projects/p/locations/europe-west4/endpoints/123") == 0);
        CHECK(strcmp(d->method_name, "/tensorflow.serving.PredictionService/Predict") == 0);
        Tensorflow__Serving__PredictRequest *r =
            tensorflow__serving__predict_request__unpack(NULL, d->input.len, d->input.data);
        CHECK(r && r->n_inputs == 2);
        if (r)
            tensorflow__serving__predict_request__free_unpacked(r, NULL);
        google__cloud__aiplatform__v1__direct_raw_predict_request__free_unpacked(d, NULL);
    }
    eem_buf_free(&bb.body);
    eem_endpoint_free(ep);
    eem_spec_free(spec);
}

static void test_oip_body(void)
{
    eem_spec *spec = spec_for("url=grpcs://h.example:8001/v2/models/m/versions/3/infer", "o:float32");
    eem_endpoint *ep = NULL;
    eem_error err = {0};
    CHECK_EQ_INT(eem_endpoint_resolve(spec, &ep, &err), EEM_OK);
    CHECK(strcmp(ep->predict_url, "https://h.example:8001/inference.GRPCInferenceService/ModelInfer") == 0);
    CHECK(strcmp(ep->metadata_url, "https://h.example:8001/inference.GRPCInferenceService/ModelMetadata") == 0);
    CHECK_EQ_INT(ep->payload_format, EEM_PAYLOAD_GRPC_OIP_V2);
    eem_payload_context ctx = {spec, ep->protocol, 0, NULL, 0, ep->grpc};
    CHECK(eem_payload_grpc_oip_v2.can_send(&ctx, EEM_DT_BFLOAT16));
    built bb = build_body(&eem_payload_grpc_oip_v2, &ctx, 3);
    Inference__ModelInferRequest *r = inference__model_infer_request__unpack(
        NULL, bb.body.len - 5, (const uint8_t *)bb.body.data + 5);
    CHECK(r != NULL);
    if (r) {
        CHECK(strcmp(r->model_name, "m") == 0 && strcmp(r->model_version, "3") == 0);
        CHECK_EQ_INT(r->n_inputs, 2);
        CHECK_EQ_INT(r->n_raw_input_contents, 2);
        if (r->n_inputs == 2) {
            CHECK(strcmp(r->inputs[1]->name, "b") == 0 && strcmp(r->inputs[1]->datatype, "FP32") == 0);
            CHECK(r->inputs[1]->n_shape == 4 && r->inputs[1]->shape[0] == 3 && r->inputs[1]->shape[3] == 2);
            CHECK(r->inputs[0]->contents == NULL);
        }
        if (r->n_raw_input_contents == 2)
            CHECK_EQ_INT(r->raw_input_contents[1].len, 3 * 8 * 4);
        inference__model_infer_request__free_unpacked(r, NULL);
    }
    eem_buf_free(&bb.body);
    eem_endpoint_free(ep);
    eem_spec_free(spec);
}

/* ------------------------------------------------------------- answers -- */

static void test_predict_response(void)
{
    eem_spec *spec = spec_for("url=grpc://127.0.0.1:1/v1/models/m", "probs:float32:2,cls:uint8");
    /* probs: DT_FLOAT [2,1,1,2] tensor_content; cls: DT_STRING with serialized [1,1,1] tensors */
    float probs[4] = {0.25f, 0.75f, 1.5f, -2.0f};
    Tensorflow__TensorShapeProto__Dim dims[4];
    Tensorflow__TensorShapeProto__Dim *dimp[4];
    int64_t sizes[4] = {2, 1, 1, 2};
    for (int i = 0; i < 4; i++) {
        tensorflow__tensor_shape_proto__dim__init(&dims[i]);
        dims[i].size = sizes[i];
        dimp[i] = &dims[i];
    }
    Tensorflow__TensorShapeProto shape = TENSORFLOW__TENSOR_SHAPE_PROTO__INIT;
    shape.n_dim = 4;
    shape.dim = dimp;
    Tensorflow__TensorProto tp = TENSORFLOW__TENSOR_PROTO__INIT;
    tp.dtype = TENSORFLOW__DATA_TYPE__DT_FLOAT;
    tp.tensor_shape = &shape;
    tp.tensor_content.data = (uint8_t *)probs;
    tp.tensor_content.len = sizeof probs;

    uint8_t *ser[2];
    size_t ser_len[2];
    for (int i = 0; i < 2; i++) {
        int64_t d[3] = {1, 1, 1};
        eem_tensor *t = eem_tensor_new(EEM_DT_UINT8, 3, d);
        ((uint8_t *)t->data)[0] = (uint8_t)(7 + i);
        eem_error e = {0};
        eem_tensorproto_encode(t, &ser[i], &ser_len[i], &e);
        eem_tensor_free(t);
    }
    ProtobufCBinaryData sv[2] = {{ser_len[0], ser[0]}, {ser_len[1], ser[1]}};
    Tensorflow__TensorProto cls = TENSORFLOW__TENSOR_PROTO__INIT;
    cls.dtype = TENSORFLOW__DATA_TYPE__DT_STRING;
    cls.n_string_val = 2;
    cls.string_val = sv;

    Tensorflow__Serving__PredictResponse__OutputsEntry e1 =
        TENSORFLOW__SERVING__PREDICT_RESPONSE__OUTPUTS_ENTRY__INIT;
    Tensorflow__Serving__PredictResponse__OutputsEntry e2 =
        TENSORFLOW__SERVING__PREDICT_RESPONSE__OUTPUTS_ENTRY__INIT;
    e1.key = "cls";
    e1.value = &cls;
    e2.key = "probs";
    e2.value = &tp;
    Tensorflow__Serving__PredictResponse__OutputsEntry *entries[2] = {&e1, &e2};
    Tensorflow__Serving__PredictResponse resp = TENSORFLOW__SERVING__PREDICT_RESPONSE__INIT;
    resp.n_outputs = 2;
    resp.outputs = entries;
    size_t len = tensorflow__serving__predict_response__get_packed_size(&resp);
    uint8_t *msg = malloc(len);
    tensorflow__serving__predict_response__pack(&resp, msg);

    eem_tensor *out[6];
    eem_error err = {0};
    CHECK_EQ_INT(eem_grpc_decode_predict_response(spec, msg, len, 2, 16, out, &err), EEM_OK);
    if (err.msg[0])
        fprintf(stderr, "%s\n", err.msg);
    CHECK(out[0] && out[0]->ndim == 3 && out[0]->dims[2] == 2 && ((float *)out[0]->data)[1] == 0.75f);
    CHECK(out[2] && ((float *)out[2]->data)[1] == -2.0f);
    CHECK(out[1] && out[1]->type == EEM_DT_UINT8 && ((uint8_t *)out[1]->data)[0] == 7);
    CHECK(out[3] && ((uint8_t *)out[3]->data)[0] == 8);
    for (int i = 0; i < 4; i++)
        eem_tensor_free(out[i]);

    /* three instances requested: the batch dimension says 2 */
    CHECK_EQ_INT(eem_grpc_decode_predict_response(spec, msg, len, 3, 16, out, &err),
                 EEM_ERR_PROTOCOL);
    CHECK(out[0] == NULL && out[5] == NULL);
    /* an element bound smaller than the tile */
    CHECK_EQ_INT(eem_grpc_decode_predict_response(spec, msg, len, 2, 1, out, &err),
                 EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "elements");
    /* every truncation fails cleanly */
    for (size_t cut = 1; cut < len; cut += 3) {
        eem_status st = eem_grpc_decode_predict_response(spec, msg, cut, 2, 16, out, &err);
        CHECK(st != EEM_OK || (out[0] && out[1]));
        if (st == EEM_OK)
            for (int i = 0; i < 4; i++)
                eem_tensor_free(out[i]);
    }
    e2.key = "renamed";
    len = tensorflow__serving__predict_response__get_packed_size(&resp);
    free(msg);
    msg = malloc(len);
    tensorflow__serving__predict_response__pack(&resp, msg);
    CHECK_EQ_INT(eem_grpc_decode_predict_response(spec, msg, len, 2, 16, out, &err),
                 EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "no output named \"probs\" (outputs present: \"cls\", \"renamed\")");
    free(msg);
    free(ser[0]);
    free(ser[1]);
    eem_spec_free(spec);
}

static void test_model_infer_response(void)
{
    eem_spec *spec = spec_for("url=grpc://127.0.0.1:1/v2/models/m", "out:float32");
    int64_t shape[4] = {2, 1, 2, 1};
    float values[4] = {1.0f, 2.5f, -3.0f, 4.0f};
    Inference__ModelInferResponse__InferOutputTensor o =
        INFERENCE__MODEL_INFER_RESPONSE__INFER_OUTPUT_TENSOR__INIT;
    o.name = "out";
    o.datatype = "FP32";
    o.n_shape = 4;
    o.shape = shape;
    Inference__ModelInferResponse__InferOutputTensor *op = &o;
    Inference__ModelInferResponse r = INFERENCE__MODEL_INFER_RESPONSE__INIT;
    r.n_outputs = 1;
    r.outputs = &op;
    ProtobufCBinaryData raw = {sizeof values, (uint8_t *)values};
    r.n_raw_output_contents = 1;
    r.raw_output_contents = &raw;
    uint8_t buf[256];
    size_t len = inference__model_infer_response__pack(&r, buf);
    eem_tensor *out[2];
    eem_error err = {0};
    CHECK_EQ_INT(eem_grpc_decode_model_infer_response(spec, buf, len, 2, 16, out, &err), EEM_OK);
    CHECK(out[1] && out[1]->ndim == 3 && ((float *)out[1]->data)[0] == -3.0f);
    for (int i = 0; i < 2; i++)
        eem_tensor_free(out[i]);

    /* typed contents (no raw): fp32_contents; MLServer's empty contents with raw is ignored */
    Inference__InferTensorContents c = INFERENCE__INFER_TENSOR_CONTENTS__INIT;
    c.n_fp32_contents = 4;
    c.fp32_contents = values;
    o.contents = &c;
    r.n_raw_output_contents = 0;
    len = inference__model_infer_response__pack(&r, buf);
    CHECK_EQ_INT(eem_grpc_decode_model_infer_response(spec, buf, len, 2, 16, out, &err), EEM_OK);
    CHECK(out[0] && ((float *)out[0]->data)[1] == 2.5f);
    for (int i = 0; i < 2; i++)
        eem_tensor_free(out[i]);

    /* integer contents into an INT16 output */
    int32_t ints[4] = {-5, 6, -32768, 32767};
    Inference__InferTensorContents ic = INFERENCE__INFER_TENSOR_CONTENTS__INIT;
    ic.n_int_contents = 4;
    ic.int_contents = ints;
    o.contents = &ic;
    o.datatype = "INT16";
    len = inference__model_infer_response__pack(&r, buf);
    CHECK_EQ_INT(eem_grpc_decode_model_infer_response(spec, buf, len, 2, 16, out, &err), EEM_OK);
    CHECK(out[0] && out[0]->type == EEM_DT_INT16 && ((int16_t *)out[0]->data)[0] == -5);
    CHECK(out[1] && ((int16_t *)out[1]->data)[0] == -32768);
    for (int i = 0; i < 2; i++)
        eem_tensor_free(out[i]);

    /* count mismatch, raw size mismatch, unknown datatype, FP16 without raw */
    ic.n_int_contents = 3;
    len = inference__model_infer_response__pack(&r, buf);
    CHECK_EQ_INT(eem_grpc_decode_model_infer_response(spec, buf, len, 2, 16, out, &err),
                 EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "3 values for shape with 4 elements");
    o.contents = NULL;
    o.datatype = "FP32";
    raw.len = 12;
    r.n_raw_output_contents = 1;
    len = inference__model_infer_response__pack(&r, buf);
    CHECK_EQ_INT(eem_grpc_decode_model_infer_response(spec, buf, len, 2, 16, out, &err),
                 EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "raw_output_contents has 12 bytes");
    o.datatype = "BYTES";
    len = inference__model_infer_response__pack(&r, buf);
    CHECK_EQ_INT(eem_grpc_decode_model_infer_response(spec, buf, len, 2, 16, out, &err),
                 EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "not numeric");
    o.datatype = "FP16";
    r.n_raw_output_contents = 0;
    len = inference__model_infer_response__pack(&r, buf);
    CHECK_EQ_INT(eem_grpc_decode_model_infer_response(spec, buf, len, 2, 16, out, &err),
                 EEM_ERR_PROTOCOL);
    CHECK_CONTAINS(err.msg, "raw");
    CHECK(out[0] == NULL && out[1] == NULL);
    eem_spec_free(spec);
}

/* ------------------------------------------------------------ endpoints -- */

static void test_endpoints(void)
{
    static const struct {
        const char *keys;
        const char *url, *model, *version, *label;
        eem_payload_format format;
    } ok[] = {
        {"url=grpc://h:8500/v1/models/m", "http://h:8500/tensorflow.serving.PredictionService/Predict",
         "m", NULL, NULL, EEM_PAYLOAD_GRPC_TF_TENSORS},
        {"url=grpc://h:8500/gw/v1/models/m/versions/12:predict",
         "http://h:8500/tensorflow.serving.PredictionService/Predict", "m", "12", NULL,
         EEM_PAYLOAD_GRPC_TF_TENSORS},
        {"url=grpcs://h/v1/models/m/labels/canary;payload_format=GRPC_SERIALIZED_TF_EXAMPLES",
         "https://h/tensorflow.serving.PredictionService/Predict", "m", NULL, "canary",
         EEM_PAYLOAD_GRPC_SERIALIZED_TF_EXAMPLES},
        {"url=http://127.0.0.1:9/v2/models/m;payload_format=GRPC_OIP_V2",
         "http://127.0.0.1:9/inference.GRPCInferenceService/ModelInfer", "m", NULL, NULL,
         EEM_PAYLOAD_GRPC_OIP_V2},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        eem_spec *spec = spec_for(ok[i].keys, "o:float32");
        eem_endpoint *ep = NULL;
        eem_error err = {0};
        CHECK(spec != NULL);
        if (!spec)
            continue;
        CHECK_EQ_INT(eem_endpoint_resolve(spec, &ep, &err), EEM_OK);
        if (!ep) {
            fprintf(stderr, "%s: %s\n", ok[i].keys, err.msg);
            eem_spec_free(spec);
            continue;
        }
        CHECK(strcmp(ep->predict_url, ok[i].url) == 0);
        CHECK(strcmp(ep->grpc->model, ok[i].model) == 0);
        CHECK(ok[i].version ? ep->grpc->version && strcmp(ep->grpc->version, ok[i].version) == 0
                            : ep->grpc->version == NULL);
        CHECK(ok[i].label ? ep->grpc->label && strcmp(ep->grpc->label, ok[i].label) == 0
                          : ep->grpc->label == NULL);
        CHECK_EQ_INT(ep->payload_format, ok[i].format);
        CHECK(!ep->google_auth);
        CHECK(ep->identity && strstr(ep->identity, "grpc|"));
        eem_endpoint_free(ep);
        eem_spec_free(spec);
    }
    /* identities differ by format and by version */
    eem_spec *s1 = spec_for("url=grpc://h/v1/models/m", "o:float32");
    eem_spec *s2 = spec_for("url=grpc://h/v1/models/m;payload_format=GRPC_SERIALIZED_TF_TENSORS",
                            "o:float32");
    eem_endpoint *e1 = NULL, *e2 = NULL;
    eem_error err = {0};
    eem_endpoint_resolve(s1, &e1, &err);
    eem_endpoint_resolve(s2, &e2, &err);
    CHECK(e1 && e2 && strcmp(e1->identity, e2->identity) != 0);
    eem_endpoint_free(e1);
    eem_endpoint_free(e2);
    eem_spec_free(s1);
    eem_spec_free(s2);
}

/* ------------------------------------------------ routing, h2c table -- */

static void test_request_params_line(void)
{
    char *line = eem_grpc_request_params_line("endpoint", "projects/p-1/locations/us-central1/endpoints/42");
    CHECK(line && strcmp(line, "x-goog-request-params: endpoint=projects/p-1/locations/"
                               "us-central1/endpoints/42") == 0);
    free(line);
    line = eem_grpc_request_params_line("endpoint", "a b&c=d%\xc3\xa9~_.");
    CHECK(line && strcmp(line, "x-goog-request-params: endpoint=a%20b%26c%3Dd%25%C3%A9~_.") == 0);
    free(line);
}

static void test_h2c_table(void)
{
    int pool_a, pool_b; /* two connection caches, named by address */
    unsigned long g1, g2, g3, g4;
    const char *url = "http://127.0.0.1:8500/tensorflow.serving.PredictionService/Predict";
    const char *same_server = "http://127.0.0.1:8500/tensorflow.serving.PredictionService/GetModelMetadata";
    CHECK(eem_grpc_h2c_call_opens(&pool_a, url, 0, &g1) == 1);      /* empty: opens */
    CHECK(eem_grpc_h2c_call_opens(&pool_a, same_server, 0, &g2) == 0 && g2 == g1); /* joins */
    CHECK(eem_grpc_h2c_call_opens(&pool_b, url, 0, &g3) == 1 && g3 != g1); /* another cache */
    CHECK(eem_grpc_h2c_call_opens(&pool_a, "http://127.0.0.1:8501/x", 0, &g4) == 1);
    eem_grpc_h2c_forget(&pool_a, url, g1);                           /* gone: the next opens */
    CHECK(eem_grpc_h2c_call_opens(&pool_a, url, 0, &g2) == 1 && g2 > g1);
    eem_grpc_h2c_forget(&pool_a, url, g1);                           /* stale: keeps the new one */
    CHECK(eem_grpc_h2c_call_opens(&pool_a, url, 0, &g3) == 0 && g3 == g2);
    CHECK(eem_grpc_h2c_call_opens(&pool_a, url, 1, &g4) == 1 && g4 > g2); /* forced */
}

int main(void)
{
    test_framing();
    test_status_lines();
    test_retry_decision();
    test_pb_reader();
    test_tf_tensors_body();
    test_serialized_and_examples_bodies();
    test_vertex_body();
    test_oip_body();
    test_predict_response();
    test_model_infer_response();
    test_endpoints();
    test_request_params_line();
    test_h2c_table();
    return check_report();
}
