/* test_backend.c — the backend table: lookup, URL layouts (earliest layout
 * wins, below gateway prefixes), defaults and caps, metadata URLs, error
 * body readers per family. */
#include "backend.h"
#include "check.h"
#include "endpoint.h"

#include <stdlib.h>

static void test_table(void)
{
    CHECK(eem_backend_for(EEM_PROTO_AIPLATFORM) == &eem_backend_aiplatform);
    CHECK(eem_backend_for(EEM_PROTO_VERTEX) == &eem_backend_vertex);
    CHECK(eem_backend_for(EEM_PROTO_TFSERVING) == &eem_backend_tfserving);
    CHECK(eem_backend_for(EEM_PROTO_KSERVE_V2) == &eem_backend_kserve_v2);
    CHECK(eem_backend_for(EEM_PROTO_NONE) == NULL);
    CHECK_EQ_INT(eem_backend_aiplatform.max_instances, EEM_GOOGLE_MAX_INSTANCES);
    CHECK_EQ_INT(eem_backend_tfserving.max_instances, 0);
    CHECK_EQ_INT(eem_backend_tfserving.default_format, EEM_PAYLOAD_RAW_JSON);
    CHECK_EQ_INT(eem_backend_kserve_v2.default_format, EEM_PAYLOAD_OIP_V2);
    CHECK_EQ_INT(eem_backend_vertex.google, 1);
    CHECK_EQ_INT(eem_backend_kserve_v2.google, 0);
    CHECK(eem_backend_tfserving.parse_metadata && eem_backend_kserve_v2.parse_metadata);
    CHECK(!eem_backend_aiplatform.parse_metadata && !eem_backend_vertex.parse_metadata);
}

static void test_layouts(void)
{
    CHECK_EQ_INT(eem_backend_protocol_of_url("https://h/v1/projects/p/models/m:predict"),
                 EEM_PROTO_AIPLATFORM);
    CHECK_EQ_INT(eem_backend_protocol_of_url(
                     "https://h/gw/v1/projects/p/locations/l/endpoints/e:rawPredict"),
                 EEM_PROTO_VERTEX);
    CHECK_EQ_INT(eem_backend_protocol_of_url("http://h:1/v1/models/m/versions/2:predict?x=1"),
                 EEM_PROTO_TFSERVING);
    CHECK_EQ_INT(eem_backend_protocol_of_url("http://h/v2/models/m/versions/1/infer"),
                 EEM_PROTO_KSERVE_V2);
    CHECK_EQ_INT(eem_backend_protocol_of_url("http://h/v2/models/m/ready"), EEM_PROTO_NONE);
    CHECK_EQ_INT(eem_backend_protocol_of_url("http://h/predict"), EEM_PROTO_NONE);
    /* the layout that starts first wins */
    CHECK_EQ_INT(eem_backend_protocol_of_url("http://h/v1/models/x/v2/models/m/v/infer"),
                 EEM_PROTO_KSERVE_V2);
    CHECK_EQ_INT(eem_backend_protocol_of_url("http://h/v1/models/m/v1/projects/p/models/q:predict"),
                 EEM_PROTO_TFSERVING);
}

static void test_error_readers(void)
{
    char buf[256];
    const char *g = "{\"error\": {\"code\": 403, \"message\": \"Denied\", \"status\": \"PERMISSION_DENIED\"}}";
    CHECK_EQ_INT(eem_backend_vertex.error_message(g, strlen(g), buf, sizeof buf), 1);
    CHECK(strcmp(buf, "Denied (PERMISSION_DENIED)") == 0);
    const char *tf = "{\"error\": \"Expected\\n 4 dims\"}";
    CHECK_EQ_INT(eem_backend_tfserving.error_message(tf, strlen(tf), buf, sizeof buf), 1);
    CHECK(strcmp(buf, "Expected  4 dims") == 0);
    const char *fastapi = "{\"detail\": \"Model m not found\"}";
    CHECK_EQ_INT(eem_backend_kserve_v2.error_message(fastapi, strlen(fastapi), buf, sizeof buf), 1);
    CHECK(strcmp(buf, "Model m not found") == 0);
    const char *html = "<html>busy</html>";
    CHECK_EQ_INT(eem_backend_kserve_v2.error_message(html, strlen(html), buf, sizeof buf), 0);
}

static void test_metadata_urls(void)
{
    eem_endpoint ep = {0};
    eem_error err = {0};
    ep.predict_url = "https://h/gw/v2/models/m/versions/3/infer?k=1";
    CHECK_EQ_INT(eem_backend_kserve_v2.finish(&ep, &err), EEM_OK);
    CHECK(ep.metadata_url && strcmp(ep.metadata_url, "https://h/gw/v2/models/m/versions/3?k=1") == 0);
    CHECK(ep.server_metadata_url && strcmp(ep.server_metadata_url, "https://h/gw/v2?k=1") == 0);
    free(ep.metadata_url);
    free(ep.server_metadata_url);
    eem_endpoint tf = {0};
    tf.predict_url = "http://h/v1/models/m/labels/stable:predict";
    CHECK_EQ_INT(eem_backend_tfserving.finish(&tf, &err), EEM_OK);
    CHECK(tf.metadata_url && strcmp(tf.metadata_url, "http://h/v1/models/m/labels/stable/metadata") == 0);
    CHECK(tf.server_metadata_url == NULL);
    free(tf.metadata_url);
    eem_endpoint vx = {0};
    vx.predict_url = "https://h/v1/projects/p/locations/l/endpoints/e:rawPredict";
    CHECK_EQ_INT(eem_backend_vertex.finish(&vx, &err), EEM_OK);
    CHECK_EQ_INT(vx.raw_predict, 1);
    CHECK(vx.model_resource_url &&
          strcmp(vx.model_resource_url, "https://h/v1/projects/p/locations/l/endpoints/e") == 0);
    free(vx.model_resource_url);
    eem_endpoint ai = {0};
    ai.predict_url = "https://ml/v1/projects/p/models/m/versions/v2:predict?k=1";
    CHECK_EQ_INT(eem_backend_aiplatform.finish(&ai, &err), EEM_OK);
    CHECK(ai.model_resource_url &&
          strcmp(ai.model_resource_url, "https://ml/v1/projects/p/models/m/versions/v2?k=1") == 0);
    free(ai.model_resource_url);
    eem_endpoint gw = {0}; /* a gateway's own layout: no resource to read */
    gw.predict_url = "https://gw/predict/m";
    CHECK_EQ_INT(eem_backend_aiplatform.finish(&gw, &err), EEM_OK);
    CHECK(gw.model_resource_url == NULL);
}

/* What a Google resource says: confirmed, cannot serve (an error), or nothing. */
static int read_resource(const eem_backend_ops *b, const char *url, const char *body)
{
    eem_endpoint ep = {0};
    eem_error err = {0};
    ep.model_resource_url = (char *)url;
    ep.display_url = "https://h/...";
    int confirmed = 0;
    if (b->read_resource(&ep, body, body ? strlen(body) : 0, &confirmed, &err) != EEM_OK)
        return strstr(err.msg, "cannot answer") || strstr(err.msg, "no model deployed") ? -1 : -2;
    return confirmed;
}

static void test_google_resources(void)
{
    const char *vx = "https://h/v1/projects/p/locations/l/endpoints/e";
    CHECK_EQ_INT(read_resource(&eem_backend_vertex, vx,
                               "{\"name\": \"e\", \"deployedModels\": [{\"id\": \"1\"}]}"), 1);
    CHECK_EQ_INT(read_resource(&eem_backend_vertex, vx, "{\"name\": \"e\"}"), -1);
    CHECK_EQ_INT(read_resource(&eem_backend_vertex, vx, "{\"name\": \"e\", \"deployedModels\": []}"), -1);
    CHECK_EQ_INT(read_resource(&eem_backend_vertex, vx, "{\"ok\": true}"), 0); /* not a resource */
    CHECK_EQ_INT(read_resource(&eem_backend_vertex, vx, "<html>"), 0);
    CHECK_EQ_INT(read_resource(&eem_backend_vertex, vx, NULL), 0);
    const char *model = "https://ml/v1/projects/p/models/m";
    const char *version = "https://ml/v1/projects/p/models/m/versions/v";
    CHECK_EQ_INT(read_resource(&eem_backend_aiplatform, model,
                               "{\"name\": \"m\", \"defaultVersion\": {\"state\": \"READY\"}}"), 1);
    CHECK_EQ_INT(read_resource(&eem_backend_aiplatform, model,
                               "{\"name\": \"m\", \"defaultVersion\": {\"state\": \"FAILED\"}}"), -1);
    CHECK_EQ_INT(read_resource(&eem_backend_aiplatform, model, "{\"name\": \"m\"}"), 0);
    CHECK_EQ_INT(read_resource(&eem_backend_aiplatform, version,
                               "{\"name\": \"v\", \"state\": \"UPDATING\"}"), 0);
    CHECK_EQ_INT(read_resource(&eem_backend_aiplatform, version,
                               "{\"name\": \"v\", \"state\": \"DELETING\"}"), -1);
    CHECK_EQ_INT(read_resource(&eem_backend_aiplatform, version,
                               "{\"name\": \"v\", \"state\": \"READY\"}"), 1);
}

int main(void)
{
    test_table();
    test_layouts();
    test_error_readers();
    test_metadata_urls();
    test_google_resources();
    return check_report();
}
