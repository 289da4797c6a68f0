/* test_metadata.c — TF Serving and KServe v2 metadata parsing, the checks at open
 * (input keys, types, tile shape, output names and lengths, both sides shown) and
 * the filling of undeclared output lengths. */
#include "check.h"

#include "metadata.h"

#include <stdlib.h>
#include <string.h>

static const char tfs_body[] =
    "{\"model_spec\":{\"name\":\"m\",\"signature_name\":\"\",\"version\":\"1\"},\"metadata\":{"
    "\"signature_def\":{\"signature_def\":{\"serving_default\":{\"inputs\":{"
    "\"red\":{\"dtype\":\"DT_UINT16\",\"tensor_shape\":{\"dim\":[{\"size\":\"-1\",\"name\":\"\"},"
    "{\"size\":\"20\",\"name\":\"\"},{\"size\":\"24\",\"name\":\"\"},{\"size\":\"1\",\"name\":\"\"}],"
    "\"unknown_rank\":false},\"name\":\"serving_default_red:0\"}},"
    "\"outputs\":{\"probs\":{\"dtype\":\"DT_FLOAT\",\"tensor_shape\":{\"dim\":[{\"size\":\"-1\"},"
    "{\"size\":\"20\"},{\"size\":\"24\"},{\"size\":\"3\"}],\"unknown_rank\":false}}},"
    "\"method_name\":\"tensorflow/serving/predict\"},\"__saved_model_init_op\":{}}}}}";

static const char ks_body[] =
    "{\"name\":\"m\",\"versions\":[\"1\"],\"platform\":\"x\",\"inputs\":[{\"name\":\"red\","
    "\"datatype\":\"FP32\",\"shape\":[-1,20,24,1]}],\"outputs\":[{\"name\":\"probs\",\"datatype\":"
    "\"FP32\",\"shape\":[-1,20,24,3]}]}";

static void test_parse(void)
{
    eem_model_metadata *md = NULL;
    eem_error err = {0};
    CHECK_EQ_INT(eem_metadata_parse_tfserving(tfs_body, strlen(tfs_body), NULL, &md, &err), EEM_OK);
    CHECK(md && md->n_inputs == 1 && md->n_outputs == 1);
    if (md) {
        CHECK(strcmp(md->inputs[0].name, "red") == 0 && md->inputs[0].type == EEM_DT_UINT16);
        CHECK(md->inputs[0].ndim == 4 && md->inputs[0].dims[0] == -1 && md->inputs[0].dims[2] == 24);
        CHECK(md->outputs[0].type == EEM_DT_FLOAT32 && md->outputs[0].dims[3] == 3);
    }
    eem_metadata_free(md);
    CHECK_EQ_INT(eem_metadata_parse_tfserving(tfs_body, strlen(tfs_body), "tiles", &md, &err),
                 EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "no signature \"tiles\"; it has: serving_default");
    CHECK_EQ_INT(eem_metadata_parse_tfserving("{}", 2, NULL, &md, &err), EEM_ERR_PROTOCOL);
    CHECK_EQ_INT(eem_metadata_parse_kserve(ks_body, strlen(ks_body), &md, &err), EEM_OK);
    CHECK(md && md->inputs[0].type == EEM_DT_FLOAT32 && md->outputs[0].dims[3] == 3);
    eem_metadata_free(md);
    const char *server = "{\"name\":\"triton\",\"extensions\":[\"classification\",\"binary_tensor_data\"]}";
    CHECK(eem_metadata_server_has_extension(server, strlen(server), "binary_tensor_data"));
    CHECK(!eem_metadata_server_has_extension(server, strlen(server), "sequence"));
    CHECK(!eem_metadata_server_has_extension("nope", 4, "binary_tensor_data"));
}

static void test_check(void)
{
    eem_model_metadata *md = NULL;
    eem_error err = {0};
    eem_metadata_parse_tfserving(tfs_body, strlen(tfs_body), NULL, &md, &err);
    eem_output outs[1] = {{.name = "probs", .type = EEM_DT_FLOAT32, .dims = 1, .length = 0}};
    eem_spec spec = {0};
    spec.outputs = outs;
    spec.n_outputs = 1;
    eem_sent_input ok[1] = {{"red", EEM_DT_UINT16, 1}};
    /* agrees; the undeclared length is filled in */
    CHECK_EQ_INT(eem_metadata_check(md, "M", &spec, EEM_PAYLOAD_RAW_JSON, ok, 1, 20, 24, &err),
                 EEM_OK);
    CHECK_EQ_INT(outs[0].length, 3);
    /* a wrong length, with both sides */
    outs[0].length = 4;
    CHECK_EQ_INT(eem_metadata_check(md, "M", &spec, EEM_PAYLOAD_RAW_JSON, ok, 1, 20, 24, &err),
                 EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "declared with 4 band(s) but the model's \"probs\" has 3 channel(s)");
    CHECK_CONTAINS(err.msg, "declares outputs: \"probs\" DT_FLOAT [-1,20,24,3]");
    CHECK_CONTAINS(err.msg, "declares OUTPUT_BANDS: probs:float32:4");
    outs[0].length = 3;
    /* a wrong key */
    eem_sent_input wrong_key[1] = {{"nir", EEM_DT_UINT16, 1}};
    CHECK_EQ_INT(eem_metadata_check(md, "M", &spec, EEM_PAYLOAD_RAW_JSON, wrong_key, 1, 20, 24, &err),
                 EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "no input named \"nir\"");
    CHECK_CONTAINS(err.msg, "inputs: \"red\" DT_UINT16 [-1,20,24,1]; the descriptor sends: \"nir\" uint16 [N,20,24,1]");
    /* a wrong type (not checked for serialized tensors, whose inputs are strings) */
    eem_sent_input wrong_type[1] = {{"red", EEM_DT_FLOAT32, 1}};
    CHECK_EQ_INT(eem_metadata_check(md, "M", &spec, EEM_PAYLOAD_OIP_V2, wrong_type, 1, 20, 24, &err),
                 EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "INPUT_TYPE: key \"red\" is sent as float32 but the model input is DT_UINT16");
    CHECK_EQ_INT(eem_metadata_check(md, "M", &spec, EEM_PAYLOAD_SERIALIZED_TF_TENSORS, wrong_type, 1,
                                    20, 24, &err),
                 EEM_OK);
    /* a wrong tile */
    CHECK_EQ_INT(eem_metadata_check(md, "M", &spec, EEM_PAYLOAD_RAW_JSON, ok, 1, 32, 32, &err),
                 EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "tile shape of key \"red\"");
    /* ND_ARRAYS: one keyless input, channels first */
    CHECK_EQ_INT(eem_metadata_check(md, "M", &spec, EEM_PAYLOAD_ND_ARRAYS, ok, 1, 20, 24, &err),
                 EEM_ERR_INVALID); /* [-1,20,24,1] read as (C=20,H=24,W=1) */
    CHECK_CONTAINS(err.msg, "one keyless uint16 tensor [N,1,20,24]");
    eem_metadata_free(md);
}

int main(void)
{
    test_parse();
    test_check();
    return check_report();
}
