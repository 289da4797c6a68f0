/* cost.h — what a read costs before anything is sent: predictions, requests and
 * request bytes, and the cost guard (MAX_PREDICTIONS, DESIGN.md section 4).
 *
 * The byte figures come from encoding one zero-valued instance with the
 * endpoint's payload format and measuring request bodies of one and two
 * instances; requests are filled up to MAX_PAYLOAD_BYTES and the backend's
 * instance cap as the predictor does.  They are exact for formats whose size
 * does not depend on the values (SERIALIZED_TF_TENSORS, binary OIP v2) and an
 * estimate otherwise (JSON numbers); tiles whose inputs are
 * all masked are never sent, so a real read costs at most the figure. */
#ifndef EEM_COST_H
#define EEM_COST_H

#include "cost_guard.h"
#include "error.h"
#include "predictor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eem_cost {
    long long predictions;   /* tiles predicted (instances sent) */
    long long requests;      /* HTTP requests */
    long long request_bytes; /* request bodies, in bytes */
} eem_cost;

/* How the predictor's requests grow: a body of n instances (n <= per request)
 * takes envelope_bytes + n * instance_bytes bytes. */
typedef struct eem_cost_model {
    long long envelope_bytes;
    long long instance_bytes;        /* one encoded tile, separator included */
    long long instances_per_request; /* MAX_PAYLOAD_BYTES and the backend's cap */
} eem_cost_model;

/* Measure the model (encodes one zero-valued instance: call it once). */
eem_status eem_cost_model_of(const eem_predictor *p, eem_cost_model *out, eem_error *err);

/* Fails (EEM_ERR_LIMIT, naming a tile size that fits) when a request of one
 * tile cannot fit MAX_PAYLOAD_BYTES: checked at open so that no read fails
 * later for it.  Only for formats whose size does not depend on the values
 * (SERIALIZED_TF_TENSORS, binary OIP v2); JSON formats are checked on the
 * real tiles at read time. */
eem_status eem_cost_check_payload(const eem_predictor *p, eem_error *err);


/* Cost of predicting n_tiles tiles in one read. */
void eem_cost_of_tiles(const eem_cost_model *m, long long n_tiles, eem_cost *out);

/* The cost guard: EEM_OK when n_tiles <= MAX_PREDICTIONS, else EEM_ERR_LIMIT
 * with the count and how to raise the limit.  what names the read for the
 * message ("this read", "overview level 2 (FIX_INPUT_PROJ=true)"). */
eem_status eem_cost_check(const eem_predictor *p, long long n_tiles, const char *what,
                          eem_error *err);

/* One readable line for a full read of a level (what gdalinfo shows):
 * "WxH (1/f): N predictions in R requests, B request bytes", the reduction
 * note of FIX_INPUT_PROJ=true overviews (reduced non-zero) and the refusal
 * when N exceeds max_predictions.  Written into buf (truncated to n-1
 * chars); returns buf. */
char *eem_cost_text(const eem_cost *cost, int width, int height, int level, int reduced,
                    long max_predictions, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
