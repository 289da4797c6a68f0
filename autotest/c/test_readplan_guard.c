/* test_readplan_guard.c — the cost guards of readplan.c count the tiles still
 * to pay and read what the dataset has spent in one hold of the predictor's
 * work lock.  Otherwise the prediction pipeline's worker can take a tile and
 * send it (spend it) between the two looks: the tile then counts twice, and
 * a read that fits the budget exactly is refused ("needs N+1 predictions").
 *
 * Deterministic, one thread: the predictor and its work lock are stand-ins
 * defined here (this binary links neither predictor.c, compute.c nor
 * worklock.c).  The stand-in worker acts at the first moment the lock is free
 * once it is armed (the lock's depth back to 0), the worst interleaving a real
 * worker can produce: it takes one tile (which then costs nothing: the
 * pipeline has it) and spends one prediction for it. */
#include "check.h"
#include "predictor.h"
#include "readplan.h"
#include "worklock.h"

#include <string.h>

#define TX 4 /* 100 x 70 pixels in 32 x 32 tiles: 4 x 3 tiles */
#define TY 3
#define N_TILES (TX * TY)

/* ---- stand-ins for the predictor and its work lock ---------------------- */

struct eem_predictor {
    int unused;
};
struct eem_worklock {
    int depth; /* holds of the (one) thread */
};

static struct eem_predictor g_predictor;
static struct eem_worklock g_lock;
static int g_free[TY][TX];   /* tiles that cost nothing (in the pipeline's hands) */
static long long g_spent;    /* predictions sent since open */
static int g_armed;          /* the worker acts at the next release to depth 0 */
static int g_acted;          /* times it did */
static int g_take_tx, g_take_ty;

static void worker_acts(void)
{
    g_armed = 0;
    g_acted++;
    g_free[g_take_ty][g_take_tx] = 1; /* taken by the pipeline ... */
    g_spent++;                        /* ... and sent: paid for */
}

void eem_worklock_enter(eem_worklock *l)
{
    if (l)
        l->depth++;
}

void eem_worklock_leave(eem_worklock *l)
{
    if (!l)
        return;
    l->depth--;
    if (l->depth == 0 && g_armed)
        worker_acts(); /* the lock is free: the worker gets it at once */
}

eem_worklock *eem_predictor_worklock(const eem_predictor *p)
{
    return p ? &g_lock : NULL;
}

long long eem_predictor_predictions_spent(const eem_predictor *p)
{
    eem_worklock_enter(eem_predictor_worklock(p));
    const long long n = g_spent;
    eem_worklock_leave(eem_predictor_worklock(p));
    return n;
}

int eem_predictor_tile_costs_nothing(const eem_predictor *p, int level, int tx, int ty)
{
    (void)level;
    eem_worklock_enter(eem_predictor_worklock(p));
    const int free_tile = tx >= 0 && ty >= 0 && tx < TX && ty < TY && g_free[ty][tx];
    eem_worklock_leave(eem_predictor_worklock(p));
    return free_tile;
}

/* ---- the level ---------------------------------------------------------- */

static int nothing_cached(void *user, int tx, int ty)
{
    (void)user;
    (void)tx;
    (void)ty;
    return 0;
}

static eem_grid g_grid;

static eem_read_level fresh_level(void)
{
    eem_error err = {0};
    const double gt[6] = {0, 1, 0, 0, 0, -1};
    CHECK_EQ_INT(eem_grid_init(&g_grid, 100, 70, gt, 32, 32, 0, 0, 32, 32, &err), EEM_OK);
    memset(g_free, 0, sizeof g_free);
    g_spent = 0;
    g_armed = g_acted = 0;
    g_lock.depth = 0;
    g_take_tx = 2; /* a tile of the first row: listed whatever the budget left */
    g_take_ty = 0;
    eem_read_level l;
    memset(&l, 0, sizeof l);
    l.grid = &g_grid;
    l.width = g_grid.out_w;
    l.height = g_grid.out_h;
    l.tile_bytes = 1000;
    l.is_cached = nothing_cached;
    l.predictor = &g_predictor;
    return l;
}

/* ---- tests -------------------------------------------------------------- */

/* A window read in parts, budget exactly its tiles: the worker takes and
 * sends one of them meanwhile; still exactly the budget. */
static void test_guard_counts_a_tile_once(void)
{
    eem_read_level l = fresh_level();
    eem_error err = {0};
    const eem_rect all = {0, 0, 100, 70};
    g_armed = 1;
    CHECK_EQ_INT(eem_readplan_guard(&l, all, N_TILES, &err), EEM_OK);
    CHECK_EQ_INT(g_acted, 1); /* the worker did act, after the guard let go */
    CHECK_EQ_INT(g_lock.depth, 0);
    /* after it: 11 tiles still to pay and 1 spent, still the budget */
    CHECK_EQ_INT(eem_readplan_guard(&l, all, N_TILES, &err), EEM_OK);
    /* and a budget one short is refused, naming what is needed */
    CHECK_EQ_INT(eem_readplan_guard(&l, all, N_TILES - 1, &err), EEM_ERR_LIMIT);
    CHECK(strstr(err.msg, "needs 11 predictions") != NULL);
}

/* AdviseRead of the whole raster, budget exactly its tiles: every tile
 * announced (none cut by a budget read after the worker spent). */
static void test_advise_counts_a_tile_once(void)
{
    eem_read_level l = fresh_level();
    eem_error err = {0};
    eem_tile_list out = {0};
    const eem_rect all = {0, 0, 100, 70};
    g_armed = 1;
    CHECK_EQ_INT(eem_readplan_advise(&l, all, 100, 70, N_TILES, &out, &err), EEM_OK);
    CHECK_EQ_INT(out.n, N_TILES);
    CHECK_EQ_INT(g_acted, 1);
    CHECK_EQ_INT(g_lock.depth, 0);
    eem_tile_list_free(&out);
}

/* A whole-band computation, budget exactly the raster (it prices its own
 * list of tiles, so it held before the fix too: kept so that a change of its
 * order of looks cannot bring the double count back). */
static void test_whole_counts_a_tile_once(void)
{
    eem_read_level l = fresh_level();
    eem_error err = {0};
    eem_tile_list out = {0};
    g_armed = 1;
    CHECK_EQ_INT(eem_readplan_whole(&l, N_TILES, 1LL << 40, &out, &err), EEM_OK);
    CHECK_EQ_INT(out.n, N_TILES);
    CHECK_EQ_INT(g_acted, 1);
    CHECK_EQ_INT(g_lock.depth, 0);
    eem_tile_list_free(&out);
}

int main(void)
{
    test_guard_counts_a_tile_once();
    test_advise_counts_a_tile_once();
    test_whole_counts_a_tile_once();
    return check_report();
}
