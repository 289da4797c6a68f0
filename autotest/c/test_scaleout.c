/* test_scaleout.c — the global tile lattice (tile_origin.c), chunk advice
 * (chunk_advice.c) and leases (cache_lease.c) in one folder, without GDAL
 * datasets or a server. */
#define _POSIX_C_SOURCE 200809L
#include "cache_lease.h"
#include "check.h"
#include "chunk_advice.h"
#include "grid.h"
#include "tile_origin.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_parse(void)
{
    eem_tile_origin_mode mode;
    double x = 1, y = 1;
    eem_error err;
    CHECK_EQ_INT(eem_tile_origin_parse("500000.5, -20", &mode, &x, &y, &err), EEM_OK);
    CHECK_EQ_INT(mode, EEM_TILE_ORIGIN_AT);
    CHECK_NEAR(x, 500000.5, 0);
    CHECK_NEAR(y, -20, 0);
    CHECK_EQ_INT(eem_tile_origin_parse("scene", &mode, &x, &y, &err), EEM_OK);
    CHECK_EQ_INT(mode, EEM_TILE_ORIGIN_SCENE);
    const char *bad[] = {"", "1", "1,", ",2", "1,2,3", "x,y", "inf,0", "1;2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(eem_tile_origin_parse(bad[i], &mode, &x, &y, &err), EEM_ERR_INVALID);
        CHECK_CONTAINS(err.msg, "TILE_ORIGIN");
        CHECK_CONTAINS(err.msg, "X,Y");
    }
    CHECK(eem_tile_origin_applies(EEM_TILE_ORIGIN_AT, 0));
    CHECK(eem_tile_origin_applies(EEM_TILE_ORIGIN_DEFAULT, 10));
    CHECK(!eem_tile_origin_applies(EEM_TILE_ORIGIN_DEFAULT, 0));
    CHECK(!eem_tile_origin_applies(EEM_TILE_ORIGIN_SCENE, 10));
}

static void test_snap(void)
{
    double sx, sy;
    /* 10 m pixels, 256 px tiles: 2560 m lattice at 0,0 */
    eem_tile_origin_snap(0, 0, 10, -10, 256, 256, 500010, 4000090, &sx, &sy);
    CHECK_NEAR(sx, 2560.0 * 195, 1e-6); /* 499200 <= 500010 */
    CHECK_NEAR(sy, 2560.0 * 1563, 1e-6); /* 4001280 >= 4000090 */
    /* a corner on the lattice stays, also a hair off it (decimal text) */
    eem_tile_origin_snap(0, 0, 10, -10, 256, 256, 499200.0000000001, 4001280, &sx, &sy);
    CHECK_NEAR(sx, 499200, 1e-6);
    CHECK_NEAR(sy, 4001280, 1e-6);
    /* a lattice anchored elsewhere, negative coordinates, non-square tiles */
    eem_tile_origin_snap(5, -3, 2, -4, 3, 5, -20, 50, &sx, &sy);
    CHECK_NEAR(sx, -25, 1e-9); /* 5 - 5*6 */
    CHECK_NEAR(sy, 57, 1e-9);  /* -3 + 3*20 */
    CHECK(eem_tile_origin_on_pixel_lattice(0, 30, 480000));
    CHECK(!eem_tile_origin_on_pixel_lattice(0, 30, 480015));
}

static void test_chunk_advice(void)
{
    const double gt[6] = {0, 1, 0, 0, 0, -1};
    eem_grid g;
    eem_error err;
    CHECK_EQ_INT(eem_grid_init(&g, 5000, 3000, gt, 256, 256, 0, 0, 128, 128, &err), EEM_OK);
    eem_chunk_advice a;
    /* 8 connections x 6 instances = 48 tiles: 6x8 or 8x6, 48 exactly */
    eem_chunk_advice_of(&g, 6, 8, &a);
    CHECK_EQ_INT(a.multiple_w, 128);
    CHECK_EQ_INT(a.multiple_h, 128);
    CHECK_EQ_INT(a.tiles_per_chunk, 48);
    CHECK_EQ_INT(a.chunk_w % 128, 0);
    CHECK_EQ_INT((a.chunk_w / 128) * (a.chunk_h / 128), 48);
    /* 4 x 4 = 16: a square */
    eem_chunk_advice_of(&g, 4, 4, &a);
    CHECK_EQ_INT(a.chunk_w, 512);
    CHECK_EQ_INT(a.chunk_h, 512);
    /* more than the raster: the whole raster in tiles (20 x 12) */
    eem_chunk_advice_of(&g, 1000, 8, &a);
    CHECK_EQ_INT(a.chunk_w, 20 * 128);
    CHECK_EQ_INT(a.chunk_h, 12 * 128);
    /* a one-row raster: the row */
    CHECK_EQ_INT(eem_grid_init(&g, 5000, 100, gt, 256, 256, 0, 0, 256, 256, &err), EEM_OK);
    eem_chunk_advice_of(&g, 3, 2, &a);
    CHECK_EQ_INT(a.chunk_w, 6 * 256);
    CHECK_EQ_INT(a.chunk_h, 256);
}

static void test_leases(void)
{
    char dir[] = "/tmp/eem-lease-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    eem_cache_key key;
    memset(&key, 0xab, sizeof key);
    eem_lease_set a, b;
    eem_lease_set_init(&a, dir);
    eem_lease_set_init(&b, dir);
    CHECK_EQ_INT(eem_lease_claim(&a, &key), 1);
    CHECK_EQ_INT(eem_lease_claim(&b, &key), 0); /* held by a live owner */
    eem_error err;
    CHECK_EQ_INT(eem_lease_defer(&b, 3, 4, &key, &err), EEM_OK);
    eem_lease_release(&a, &key);
    int *tiles = NULL, n = 0;
    CHECK_EQ_INT(eem_lease_wait_deferred(&b, NULL, NULL, &tiles, &n, &err), EEM_OK);
    CHECK_EQ_INT(n, 1);
    CHECK(tiles && tiles[0] == 3 && tiles[1] == 4);
    free(tiles);
    CHECK_EQ_INT(b.waits, 1);
    CHECK_EQ_INT(eem_lease_claim(&b, &key), 1); /* free again */
    eem_lease_set_clear(&b);                    /* releases it */
    CHECK_EQ_INT(eem_lease_claim(&a, &key), 1);
    eem_lease_set_clear(&a);
    /* leases off (no folder): every claim succeeds */
    eem_lease_set none;
    eem_lease_set_init(&none, NULL);
    CHECK_EQ_INT(eem_lease_claim(&none, &key), 1);
    CHECK_EQ_INT(eem_lease_claim(&none, &key), 1);
    eem_lease_set_clear(&none);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_EQ_INT(system(cmd), 0);
}

int main(void)
{
    test_parse();
    test_snap();
    test_chunk_advice();
    test_leases();
    return check_report();
}
