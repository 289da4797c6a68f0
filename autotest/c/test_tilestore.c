/* test_tilestore.c — the per-dataset memories of issue 12: the tile index,
 * the decoded-tile store (memory, then the temporary file, then nothing) and
 * the failure memory with its classification of finished requests. */
#include "check.h"

#include "failmemo.h"
#include "tileindex.h"
#include "tilestore.h"

#include <gdal.h>

#include <stdlib.h>
#include <string.h>

static void test_tile_index(void)
{
    eem_tile_index ix = {0};
    CHECK_EQ_INT(eem_tile_index_get(&ix, 0, 0, 0), -1);
    for (int k = 0; k < 5000; k++)
        CHECK_EQ_INT(eem_tile_index_put(&ix, k % 3, k, 7 * k, k), 0);
    int ok = 1;
    for (int k = 0; k < 5000; k++)
        ok &= eem_tile_index_get(&ix, k % 3, k, 7 * k) == k;
    CHECK(ok);
    CHECK_EQ_INT(eem_tile_index_get(&ix, 1, 0, 0), -1); /* level differs */
    CHECK_EQ_INT(eem_tile_index_put(&ix, 0, 0, 0, 42), 0);
    CHECK_EQ_INT(eem_tile_index_get(&ix, 0, 0, 0), 42);
    CHECK_EQ_INT((int)ix.n, 5000);
    eem_tile_index_free(&ix);
}

/* A tile of two bands (4 and 2 bytes a pixel) of 4 pixels plus its mask. */
static void fill(uint8_t *a, uint8_t *b, uint8_t *m, int seed)
{
    for (int i = 0; i < 16; i++)
        a[i] = (uint8_t)(seed + i);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(3 * seed + i);
    for (int i = 0; i < 4; i++)
        m[i] = (uint8_t)(seed & 1 ? 255 : 0);
}

static int same(eem_tilestore *s, int tx, int seed)
{
    uint8_t a[16], b[8], m[4];
    fill(a, b, m, seed);
    void *bands[2];
    uint8_t *mask = NULL;
    if (!eem_tilestore_get(s, 0, tx, 0, bands, &mask))
        return 0;
    return !memcmp(bands[0], a, 16) && !memcmp(bands[1], b, 8) && !memcmp(mask, m, 4);
}

static void test_tile_store_memory_then_file(void)
{
    const size_t sizes[2] = {16, 8};
    CHECK(eem_tilestore_new(2, sizes, 4, 0, 0) == NULL); /* no bound: no store */
    /* 28 bytes a tile: 3 in memory, 2 in the file, then nothing more */
    eem_tilestore *s = eem_tilestore_new(2, sizes, 4, 3 * 28, 2 * 28);
    CHECK(s != NULL);
    for (int k = 0; k < 7; k++) {
        uint8_t a[16], b[8], m[4];
        fill(a, b, m, k);
        void *bands[2] = {a, b};
        eem_tilestore_put(s, 0, k, 0, bands, m);
    }
    long mem = 0, disk = 0;
    eem_tilestore_counts(s, &mem, &disk);
    CHECK_EQ_INT((int)mem, 3);
    CHECK_EQ_INT((int)disk, 2);
    /* the oldest went to the file, the newest stayed in memory, two were not kept */
    CHECK(same(s, 0, 0) && same(s, 1, 1));
    CHECK(eem_tilestore_holds(s, 0, 2, 0) == 0 && eem_tilestore_holds(s, 0, 3, 0) == 0);
    CHECK(same(s, 4, 4) && same(s, 5, 5) && same(s, 6, 6));
    CHECK(eem_tilestore_holds(s, 1, 4, 0) == 0); /* another level */
    eem_tilestore_free(s);
    /* no memory at all: the file only */
    s = eem_tilestore_new(2, sizes, 4, 0, 10 * 28);
    uint8_t a[16], b[8], m[4];
    fill(a, b, m, 9);
    void *bands[2] = {a, b};
    eem_tilestore_put(s, 0, 9, 0, bands, m);
    eem_tilestore_counts(s, &mem, &disk);
    CHECK_EQ_INT((int)mem, 0);
    CHECK_EQ_INT((int)disk, 1);
    CHECK(same(s, 9, 9));
    eem_tilestore_free(s);
}

/* Tiles read out leave memory first, oldest read first, and only
 * max_memory / EEM_TILESTORE_READ_SHARE bytes of them stay in memory. */
static void test_tile_store_read_tiles_leave_first(void)
{
    const size_t sizes[2] = {16, 8};
    const int per_memory = 2 * EEM_TILESTORE_READ_SHARE; /* 2 read tiles may stay */
    GDALSetCacheMax64(1 << 20); /* larger than the store: the store's share bounds */
    eem_tilestore *s = eem_tilestore_new(2, sizes, 4, per_memory * 28, 100 * 28);
    CHECK(s != NULL);
    uint8_t a[16], b[8], m[4];
    void *bands[2] = {a, b};
    for (int k = 0; k < 4; k++) {
        fill(a, b, m, k);
        eem_tilestore_put(s, 0, k, 0, bands, m);
    }
    eem_tilestore_mark_read(s, 0, 0, 0);
    eem_tilestore_mark_read(s, 0, 1, 0);
    eem_tilestore_mark_read(s, 0, 1, 0); /* twice: counted once */
    long mem = 0, disk = 0;
    eem_tilestore_counts(s, &mem, &disk);
    CHECK_EQ_INT((int)mem, 4);
    CHECK_EQ_INT((int)disk, 0); /* nothing written while the read ones fit */
    eem_tilestore_mark_read(s, 0, 2, 0); /* a third: the oldest read goes */
    eem_tilestore_counts(s, &mem, &disk);
    CHECK_EQ_INT((int)mem, 3);
    CHECK_EQ_INT((int)disk, 1);
    CHECK(!eem_tilestore_in_memory(s, 0, 0, 0) && eem_tilestore_in_memory(s, 0, 1, 0));
    CHECK(same(s, 0, 0)); /* read back from the file */
    /* the mask alone, from the file and from memory */
    uint8_t *only = NULL;
    fill(a, b, m, 0);
    CHECK(eem_tilestore_get(s, 0, 0, 0, NULL, &only) && !memcmp(only, m, 4));
    fill(a, b, m, 1);
    CHECK(eem_tilestore_get(s, 0, 1, 0, NULL, &only) && !memcmp(only, m, 4));
    /* memory full: the read tiles (1, then 2) leave before tile 3, never read */
    for (int k = 4; k < per_memory + 3; k++) {
        fill(a, b, m, k);
        eem_tilestore_put(s, 0, k, 0, bands, m);
    }
    CHECK(!eem_tilestore_in_memory(s, 0, 1, 0) && !eem_tilestore_in_memory(s, 0, 2, 0));
    CHECK(eem_tilestore_in_memory(s, 0, 3, 0));
    CHECK(same(s, 1, 1) && same(s, 2, 2) && same(s, 3, 3));
    /* the mask alone from the file, just after another tile was read back whole */
    CHECK(same(s, 1, 1));
    fill(a, b, m, 2);
    CHECK(eem_tilestore_get(s, 0, 2, 0, NULL, &only) && !memcmp(only, m, 4));
    eem_tilestore_counts(s, &mem, &disk);
    CHECK_EQ_INT((int)mem, per_memory);
    CHECK_EQ_INT((int)disk, 3);
    /* then the oldest tile */
    fill(a, b, m, 99);
    eem_tilestore_put(s, 0, 99, 0, bands, m);
    CHECK(!eem_tilestore_in_memory(s, 0, 3, 0) && same(s, 3, 3) && same(s, 99, 99));
    eem_tilestore_free(s);
}

static void test_failure_memory(void)
{
    eem_http_request refused = {.unreachable = 1};
    eem_http_request busy = {.status = 503, .retries_exhausted = 1};
    eem_http_request wrong_model = {.status = 404};
    eem_http_request bad_tile = {.status = 400};
    eem_http_request denied = {.status = 403};
    eem_http_request flaky = {.status = 500, .retries_exhausted = 1};
    CHECK(eem_failure_is_lasting(&refused) && eem_failure_is_endpoint_wide(&refused));
    CHECK(eem_failure_is_lasting(&busy) && eem_failure_is_endpoint_wide(&busy));
    CHECK(eem_failure_is_lasting(&wrong_model) && eem_failure_is_endpoint_wide(&wrong_model));
    CHECK(!eem_failure_is_lasting(&bad_tile) && !eem_failure_is_endpoint_wide(&bad_tile));
    CHECK(!eem_failure_is_lasting(&denied) && !eem_failure_is_endpoint_wide(&denied));
    CHECK(eem_failure_is_lasting(&flaky) && !eem_failure_is_endpoint_wide(&flaky));

    eem_failmemo *m = eem_failmemo_new();
    eem_error err = {0};
    CHECK(eem_failmemo_find(m, 0, 1, 2) == NULL);
    CHECK_EQ_INT(eem_failmemo_add(m, 0, 1, 2, "first", &err), EEM_OK);
    CHECK_EQ_INT(eem_failmemo_add(m, 0, 2, 2, "first", &err), EEM_OK);
    CHECK_EQ_INT(eem_failmemo_add(m, 1, 1, 2, "second", &err), EEM_OK);
    CHECK(eem_failmemo_find(m, 0, 1, 2) && !strcmp(eem_failmemo_find(m, 0, 1, 2), "first"));
    CHECK(eem_failmemo_find(m, 0, 2, 2) == eem_failmemo_find(m, 0, 1, 2)); /* shared */
    CHECK(!strcmp(eem_failmemo_find(m, 1, 1, 2), "second"));
    CHECK(eem_failmemo_find(NULL, 0, 1, 2) == NULL);
    eem_failmemo_free(m);
}

int main(void)
{
    test_tile_index();
    test_tile_store_memory_then_file();
    test_tile_store_read_tiles_leave_first();
    test_failure_memory();
    return check_report();
}
