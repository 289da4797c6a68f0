/* blend.c — OVERLAP_MODE=BLEND (see blend.h): which tiles of the four sets
 * the requested blocks need, their prediction (one predictor call per set,
 * outputs kept in memory until every set is in), and the blend of each block.
 *
 * Set (sx,sy) is the driver's grid with tile cores moved by sx*tw/2, sy*th/2
 * input pixels (sx*uw/2, sy*uh/2 output pixels).  Block i in x meets tile i
 * of an unmoved set and tiles i-1 and i of a moved one. */
#include "blend.h"

#include "cost.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BLEND_SETS 4
#define BLEND_PI 3.14159265358979323846

typedef struct blend_set {
    int sx, sy;     /* moved by half a tile in x / y */
    int *tiles;     /* n sorted, unique pairs (row-major) */
    int n, cap;
    uint8_t *slots; /* n slots: each band's buffer, then the mask */
} blend_set;

typedef struct blend_state {
    eem_predictor *p;
    const eem_grid *g;
    int n_bands;
    size_t npix;
    size_t *band_off; /* offset of band b in a slot */
    size_t slot_bytes;
    blend_set sets[BLEND_SETS];
    blend_set *current; /* the set being predicted */
    double *wx[2], *wy[2]; /* weight of block column x / row y in an unmoved [0] or moved [1] tile */
} blend_state;

eem_status eem_blend_check(const eem_grid *g, eem_error *err)
{
    if (g->tw % 2 || g->th % 2 || g->uw % 2 || g->uh % 2)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "OVERLAP_MODE=BLEND offsets tiles by half a tile: INPUT_TILE_SIZE "
                             "(%d,%d) and OUTPUT_TILE_SIZE (%d,%d) must be even; use even sizes "
                             "or OVERLAP_MODE=CROP",
                             g->tw, g->th, g->uw, g->uh);
    return EEM_OK;
}

long long eem_blend_full_read_tiles(const eem_grid *g)
{
    long long x = g->tiles_x, y = g->tiles_y;
    return x * y + (x + 1) * y + x * (y + 1) + (x + 1) * (y + 1);
}

double eem_blend_weight(int x, int n)
{
    double s = sin(BLEND_PI * ((double)x + 0.5) / (double)n);
    return s * s;
}

static int set_add(blend_set *s, int tx, int ty)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        int *nt = realloc(s->tiles, (size_t)cap * 2 * sizeof *nt);
        if (!nt)
            return 0;
        s->tiles = nt;
        s->cap = cap;
    }
    s->tiles[2 * s->n] = tx;
    s->tiles[2 * s->n + 1] = ty;
    s->n++;
    return 1;
}

/* Sort and drop repeated tiles. */
static void set_unique(blend_set *s)
{
    if (s->n == 0)
        return;
    eem_grid_sort_tiles(s->tiles, s->n);
    int m = 1;
    for (int k = 1; k < s->n; k++) {
        if (eem_grid_compare_tiles(s->tiles + 2 * k, s->tiles + 2 * (m - 1)) != 0) {
            s->tiles[2 * m] = s->tiles[2 * k];
            s->tiles[2 * m + 1] = s->tiles[2 * k + 1];
            m++;
        }
    }
    s->n = m;
}

/* Slot of tile (tx,ty) of a set, NULL when the set does not hold it. */
static uint8_t *set_slot(const blend_state *bs, const blend_set *s, int tx, int ty)
{
    int key[2] = {tx, ty};
    const int *hit = bsearch(key, s->tiles, (size_t)s->n, 2 * sizeof *s->tiles, eem_grid_compare_tiles);
    return hit ? s->slots + (size_t)((hit - s->tiles) / 2) * bs->slot_bytes : NULL;
}

static eem_status blend_store(void *user, int level, int tx, int ty, void *const *bands,
                              const uint8_t *mask, eem_error *err)
{
    blend_state *bs = user;
    uint8_t *slot = set_slot(bs, bs->current, tx, ty);
    if (!slot)
        return eem_error_set(err, EEM_ERR_INVALID, "blend: tile (%d,%d) was not asked for", tx,
                             ty);
    for (int b = 0; b < bs->n_bands; b++)
        memcpy(slot + bs->band_off[b], bands[b], bs->band_off[b + 1] - bs->band_off[b]);
    memcpy(slot + bs->band_off[bs->n_bands], mask, bs->npix);
    return EEM_OK;
}

/* One contribution to a block: a tile's slot and where the block starts in it. */
typedef struct contribution {
    const uint8_t *slot; /* NULL: the tile was not predicted (outside every set's needs) */
    const uint8_t *mask;
} contribution;

/* Blend block (i,j) into out (band buffers, then mask at band_off[n_bands]). */
static void blend_block(const blend_state *bs, int i, int j, uint8_t *out)
{
    const eem_grid *g = bs->g;
    const int uw = g->uw, uh = g->uh, hw = uw / 2, hh = uh / 2;
    /* contributions c[set][kx][ky]: tile i-1+kx (moved sets) or i (unmoved) */
    contribution c[BLEND_SETS][2][2];
    for (int s = 0; s < BLEND_SETS; s++) {
        const blend_set *set = &bs->sets[s];
        for (int kx = 0; kx < 2; kx++) {
            for (int ky = 0; ky < 2; ky++) {
                int tx = set->sx ? i - 1 + kx : i, ty = set->sy ? j - 1 + ky : j;
                const uint8_t *slot = set_slot(bs, set, tx, ty);
                c[s][kx][ky].slot = slot;
                c[s][kx][ky].mask = slot ? slot + bs->band_off[bs->n_bands] : NULL;
            }
        }
    }
    const uint8_t *primary = c[0][0][0].slot;
    memcpy(out, primary, bs->slot_bytes); /* masked pixels keep the primary's value */
    for (int y = 0; y < uh; y++) {
        for (int x = 0; x < uw; x++) {
            size_t i_out = (size_t)y * uw + x;
            if (!c[0][0][0].mask[i_out])
                continue;
            /* each set: the tile holding this pixel and the pixel within it */
            const uint8_t *slot[BLEND_SETS];
            size_t at[BLEND_SETS];
            double w[BLEND_SETS];
            for (int s = 0; s < BLEND_SETS; s++) {
                const blend_set *set = &bs->sets[s];
                int kx = set->sx ? x >= hw : 0, ky = set->sy ? y >= hh : 0;
                int lx = set->sx ? (x >= hw ? x - hw : x + hw) : x;
                int ly = set->sy ? (y >= hh ? y - hh : y + hh) : y;
                const contribution *k = &c[s][kx][ky];
                at[s] = (size_t)ly * uw + lx;
                slot[s] = k->slot && k->mask[at[s]] ? k->slot : NULL;
                w[s] = slot[s] ? bs->wx[set->sx][x] * bs->wy[set->sy][y] : 0.0;
            }
            for (int b = 0; b < bs->n_bands; b++) {
                eem_dtype t = eem_predictor_band_type(bs->p, b);
                size_t es = eem_dtype_size(t);
                uint8_t *dst = out + bs->band_off[b] + i_out * es;
                if (eem_dtype_is_float(t)) {
                    double sum = 0, wsum = 0;
                    for (int s = 0; s < BLEND_SETS; s++) {
                        if (!slot[s])
                            continue;
                        sum += w[s] * eem_dtype_get(slot[s] + bs->band_off[b], t, at[s]);
                        wsum += w[s];
                    }
                    double v = sum / wsum;
                    eem_dtype_convert(&v, EEM_DT_FLOAT64, dst, t, 1);
                } else {
                    int best = 0;
                    for (int s = 1; s < BLEND_SETS; s++)
                        if (w[s] > w[best])
                            best = s;
                    memcpy(dst, slot[best] + bs->band_off[b] + at[best] * es, es);
                }
            }
        }
    }
}

static void blend_state_free(blend_state *bs)
{
    for (int s = 0; s < BLEND_SETS; s++) {
        free(bs->sets[s].tiles);
        free(bs->sets[s].slots);
    }
    free(bs->band_off);
    for (int k = 0; k < 2; k++) {
        free(bs->wx[k]);
        free(bs->wy[k]);
    }
}

eem_status eem_blend_compute(eem_predictor *p, int level, const int *tiles, int n_tiles,
                             eem_tile_sink sink, void *sink_user, int (*cancel)(void *),
                             void *cancel_user, eem_error *err)
{
    if (n_tiles <= 0)
        return EEM_OK;
    const eem_grid *g = eem_predictor_grid(p, level);
    if (!g)
        return eem_error_set(err, EEM_ERR_INVALID, "overview level %d does not exist", level);
    eem_status st = eem_blend_check(g, err);
    if (st != EEM_OK)
        return st;
    blend_state bs;
    memset(&bs, 0, sizeof bs);
    bs.p = p;
    bs.g = g;
    bs.n_bands = eem_predictor_band_count(p);
    bs.npix = (size_t)g->uw * g->uh;
    bs.band_off = calloc((size_t)bs.n_bands + 1, sizeof *bs.band_off);
    if (!bs.band_off)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    for (int b = 0; b < bs.n_bands; b++)
        bs.band_off[b + 1] =
            bs.band_off[b] + bs.npix * eem_dtype_size(eem_predictor_band_type(p, b));
    bs.slot_bytes = bs.band_off[bs.n_bands] + bs.npix;
    for (int k = 0; k < 2; k++) {
        bs.wx[k] = malloc((size_t)g->uw * sizeof(double));
        bs.wy[k] = malloc((size_t)g->uh * sizeof(double));
        if (!bs.wx[k] || !bs.wy[k]) {
            blend_state_free(&bs);
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        }
    }
    /* a moved tile starts half a tile before the block, or at its middle */
    for (int x = 0; x < g->uw; x++) {
        bs.wx[0][x] = eem_blend_weight(x, g->uw);
        bs.wx[1][x] = eem_blend_weight(x >= g->uw / 2 ? x - g->uw / 2 : x + g->uw / 2, g->uw);
    }
    for (int y = 0; y < g->uh; y++) {
        bs.wy[0][y] = eem_blend_weight(y, g->uh);
        bs.wy[1][y] = eem_blend_weight(y >= g->uh / 2 ? y - g->uh / 2 : y + g->uh / 2, g->uh);
    }

    long long total = 0;
    for (int s = 0; st == EEM_OK && s < BLEND_SETS; s++) {
        blend_set *set = &bs.sets[s];
        set->sx = s & 1;
        set->sy = s >> 1;
        for (int k = 0; st == EEM_OK && k < n_tiles; k++) {
            int i = tiles[2 * k], j = tiles[2 * k + 1];
            for (int kx = set->sx ? i - 1 : i; st == EEM_OK && kx <= i; kx++)
                for (int ky = set->sy ? j - 1 : j; st == EEM_OK && ky <= j; ky++)
                    if (!set_add(set, kx, ky))
                        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        }
        set_unique(set);
        total += set->n;
    }
    if (st == EEM_OK)
        st = eem_cost_check(p, total, "this read (OVERLAP_MODE=BLEND)", err);
    for (int s = 0; st == EEM_OK && s < BLEND_SETS; s++) {
        blend_set *set = &bs.sets[s];
        set->slots = calloc((size_t)set->n, bs.slot_bytes);
        if (!set->slots) {
            st = eem_error_set(err, EEM_ERR_NOMEM,
                               "out of memory holding %d tiles for OVERLAP_MODE=BLEND", set->n);
            break;
        }
        bs.current = set;
        st = eem_predictor_compute_shifted(p, level, set->sx * g->tw / 2, set->sy * g->th / 2,
                                           set->tiles, set->n, blend_store, &bs, cancel,
                                           cancel_user, err);
    }
    uint8_t *out = st == EEM_OK ? malloc(bs.slot_bytes) : NULL;
    if (st == EEM_OK && !out)
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    void **bands = st == EEM_OK ? calloc((size_t)bs.n_bands + 1, sizeof *bands) : NULL;
    if (st == EEM_OK && !bands)
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    for (int b = 0; st == EEM_OK && b < bs.n_bands; b++)
        bands[b] = out + bs.band_off[b];
    for (int k = 0; st == EEM_OK && k < n_tiles; k++) {
        blend_block(&bs, tiles[2 * k], tiles[2 * k + 1], out);
        st = sink(sink_user, level, tiles[2 * k], tiles[2 * k + 1], bands,
                  out + bs.band_off[bs.n_bands], err);
    }
    free(bands);
    free(out);
    blend_state_free(&bs);
    return st;
}
