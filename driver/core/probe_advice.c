/* probe_advice.c — tile size and overlap advice from a receptive radius (see
 * probe_advice.h).
 *
 * Request bytes grow with the pixels sent: an instance of a tile with overlap
 * takes (tw+2ox)(th+2oy) times the per-pixel bytes measured on the grid's own
 * instance (header bytes included, so the figure is slightly pessimistic for
 * larger tiles).  The seam-free overlap equals the radius: an output pixel
 * depends on input pixels up to radius away, so a core pixel sees the same
 * inputs in its tile as in the whole image when the tile carries radius
 * pixels more on each edge.  Waste is the share of sent pixels outside the
 * core; it only falls as the tile grows, so the least waste is the largest
 * tile whose single instance still fits MAX_PAYLOAD_BYTES. */
#include "probe_advice.h"

#include <math.h>

static int gcd_int(int a, int b)
{
    while (b) {
        int t = a % b;
        a = b;
        b = t;
    }
    return a > 0 ? a : 1;
}

/* Per input pixel request bytes of the grid's instance. */
static double bytes_per_input_pixel(const eem_grid *g, const eem_cost_model *m)
{
    double px = (double)(g->tw + 2 * g->ox) * (double)(g->th + 2 * g->oy);
    return px > 0 ? (double)m->instance_bytes / px : 0.0;
}

/* The backend's instance cap, when it (not the payload) limited the grid's requests. */
static long long instance_cap(const eem_cost_model *m, long max_payload)
{
    if (m->instance_bytes <= 0)
        return 0;
    long long by_payload = (max_payload - m->envelope_bytes) / m->instance_bytes;
    return m->instances_per_request < by_payload ? m->instances_per_request : 0;
}

void eem_tile_figures_of(const eem_grid *g, const eem_cost_model *m, long max_payload, int tw,
                         int th, int ox, int oy, eem_tile_figures *out)
{
    out->tw = tw;
    out->th = th;
    out->ox = ox;
    out->oy = oy;
    double sent = (double)(tw + 2 * ox) * (double)(th + 2 * oy);
    out->waste = sent > 0 ? 1.0 - (double)tw * (double)th / sent : 0.0;
    double inst = ceil(bytes_per_input_pixel(g, m) * sent);
    double room = (double)max_payload - (double)m->envelope_bytes;
    out->fits = inst > 0 && inst <= room;
    long long per_request = out->fits ? (long long)(room / inst) : 1;
    long long cap = instance_cap(m, max_payload);
    if (cap > 0 && per_request > cap)
        per_request = cap;
    if (per_request < 1)
        per_request = 1;
    double out_px = (double)tw * g->uw / g->tw * ((double)th * g->uh / g->th);
    double per_tile = inst + (double)m->envelope_bytes / (double)per_request;
    out->bytes_per_output_pixel = out_px > 0 ? per_tile / out_px : 0.0;
}

void eem_tile_advise(const eem_grid *g, const eem_cost_model *m, long max_payload, int radius,
                     int unbounded, eem_tile_advice *out)
{
    int o = g->ox > g->oy ? g->ox : g->oy;
    out->seam_free_possible = !unbounded && radius >= 0;
    out->overlap = out->seam_free_possible ? radius : o;
    out->current_seam_free =
        out->seam_free_possible && g->ox >= radius && g->oy >= radius;
    eem_tile_figures_of(g, m, max_payload, g->tw, g->th, g->ox, g->oy, &out->current);

    /* side steps that keep the output tile a whole number of pixels */
    int sx = g->tw / gcd_int(g->tw, g->uw), sy = g->th / gcd_int(g->th, g->uh);
    int step = sx / gcd_int(sx, sy) * sy;
    double per_px = bytes_per_input_pixel(g, m);
    double room = (double)max_payload - (double)m->envelope_bytes;
    int window = per_px > 0 && room > 0 ? (int)floor(sqrt(room / per_px)) : 0;
    int side = window - 2 * out->overlap;
    int coarse = 8 * step;
    if (side >= coarse)
        side -= side % coarse;
    else if (side >= step)
        side -= side % step;
    else
        side = step;
    eem_tile_figures_of(g, m, max_payload, side, side, out->overlap, out->overlap, &out->advised);
    /* rounding of the per-pixel estimate: step down until it fits */
    while (!out->advised.fits && side > step) {
        side -= step;
        eem_tile_figures_of(g, m, max_payload, side, side, out->overlap, out->overlap,
                            &out->advised);
    }
}
