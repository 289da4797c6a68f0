/* test_cache.c — the persistent prediction cache: size parsing, keys, round
 * trips, damaged entries (flipped byte, truncation, foreign key, other sizes)
 * removed and never served, atomic writes (no temporary file left), LRU
 * eviction under the size cap with hits refreshing an entry, stale temporary
 * files cleaned, configuration through CACHE_DIR / EEMODEL_CACHE_DIR /
 * EEMODEL_CACHE_MAX_SIZE, and two processes filling one folder at once. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include "cache.h"
#include "check.h"

#include <cpl_conv.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PART_A 1000
#define PART_B 333

static char root[256];

static void make_key(eem_cache_key *key, int n)
{
    char data[64];
    snprintf(data, sizeof data, "instance-%d", n);
    eem_error err = {0};
    eem_cache_key_compute("identity|out=32,32", data, strlen(data), key, &err);
}

static void fill_parts(unsigned char *a, unsigned char *b, int seed)
{
    for (int i = 0; i < PART_A; i++)
        a[i] = (unsigned char)(seed * 31 + i * 7);
    for (int i = 0; i < PART_B; i++)
        b[i] = (unsigned char)(seed * 17 + i * 3 + 1);
}

static eem_status put_entry(eem_cache *c, int n)
{
    unsigned char a[PART_A], b[PART_B];
    fill_parts(a, b, n);
    eem_cache_key key;
    make_key(&key, n);
    const void *parts[2] = {a, b};
    size_t sizes[2] = {PART_A, PART_B};
    eem_error err = {0};
    return eem_cache_put(c, &key, parts, sizes, 2, &err);
}

/* 1 hit with the right bytes, 0 miss, -1 a hit with wrong bytes. */
static int get_entry(eem_cache *c, int n)
{
    unsigned char a[PART_A], b[PART_B], ea[PART_A], eb[PART_B];
    fill_parts(ea, eb, n);
    eem_cache_key key;
    make_key(&key, n);
    void *parts[2] = {a, b};
    size_t sizes[2] = {PART_A, PART_B};
    if (!eem_cache_get(c, &key, parts, sizes, 2))
        return 0;
    return memcmp(a, ea, PART_A) == 0 && memcmp(b, eb, PART_B) == 0 ? 1 : -1;
}

static void entry_file(const eem_cache *c, int n, char *buf, size_t len)
{
    eem_cache_key key;
    make_key(&key, n);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", key.bytes[i]);
    snprintf(buf, len, "%s/%.2s/%s", eem_cache_dir(c), hex, hex);
}

/* Count files in the cache folder whose name starts with prefix (any depth 1). */
static int count_files(const char *dir, const char *prefix)
{
    int count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' && (de->d_name[1] == '\0' || strcmp(de->d_name, "..") == 0))
            continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
        DIR *s = opendir(sub);
        if (!s)
            continue;
        struct dirent *fe;
        while ((fe = readdir(s)) != NULL)
            if (strncmp(fe->d_name, prefix, strlen(prefix)) == 0 && strcmp(fe->d_name, ".") &&
                strcmp(fe->d_name, ".."))
                count++;
        closedir(s);
    }
    closedir(d);
    return count;
}

static void set_mtime(const char *path, time_t t)
{
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    utimensat(AT_FDCWD, path, ts, 0);
}

static void test_parse_size(void)
{
    CHECK_EQ_INT(eem_cache_parse_size("0"), 0);
    CHECK_EQ_INT(eem_cache_parse_size("1024"), 1024);
    CHECK_EQ_INT(eem_cache_parse_size("2K"), 2048);
    CHECK_EQ_INT(eem_cache_parse_size("500M"), 500LL << 20);
    CHECK_EQ_INT(eem_cache_parse_size("1GB"), 1LL << 30);
    CHECK_EQ_INT(eem_cache_parse_size("3 GiB"), 3LL << 30);
    CHECK_EQ_INT(eem_cache_parse_size("1t"), 1LL << 40);
    CHECK_EQ_INT(eem_cache_parse_size("x"), -1);
    CHECK_EQ_INT(eem_cache_parse_size("-5"), -1);
    CHECK_EQ_INT(eem_cache_parse_size("5Q"), -1);
    CHECK_EQ_INT(eem_cache_parse_size("99999999999999999999"), -1);
    CHECK_EQ_INT(eem_cache_parse_size("9999999999T"), -1);
}

static void test_keys(void)
{
    eem_cache_key a, b, c, d;
    eem_error err = {0};
    CHECK_EQ_INT(eem_cache_key_compute("ctx", "data", 4, &a, &err), EEM_OK);
    CHECK_EQ_INT(eem_cache_key_compute("ctx", "data", 4, &b, &err), EEM_OK);
    CHECK(memcmp(a.bytes, b.bytes, 32) == 0);
    eem_cache_key_compute("ctx2", "data", 4, &c, &err);
    CHECK(memcmp(a.bytes, c.bytes, 32) != 0);
    /* the context is length-prefixed: moving the boundary changes the key */
    eem_cache_key_compute("ab", "c", 1, &c, &err);
    eem_cache_key_compute("a", "bc", 2, &d, &err);
    CHECK(memcmp(c.bytes, d.bytes, 32) != 0);
    /* the digest is the real SHA-256: hashlib.sha256(bytes(8)) */
    static const unsigned char empty_prefix_sha[32] = {
        0xaf, 0x55, 0x70, 0xf5, 0xa1, 0x81, 0x0b, 0x7a, 0xf7, 0x8c, 0xaf, 0x4b, 0xc7, 0x0a, 0x66, 0x0f,
        0x0d, 0xf5, 0x1e, 0x42, 0xba, 0xf9, 0x1d, 0x4d, 0xe5, 0xb2, 0x32, 0x8d, 0xe0, 0xe8, 0x3d, 0xfc};
    /* key("", nothing) = SHA-256 of eight zero bytes */
    eem_cache_key_compute("", NULL, 0, &d, &err);
    CHECK(memcmp(d.bytes, empty_prefix_sha, 32) == 0);
}

static void test_round_trip_and_damage(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/rt/nested", root);
    eem_cache *c = NULL;
    eem_error err = {0};
    CHECK_EQ_INT(eem_cache_open(dir, 0, &c, &err), EEM_OK);
    if (!c)
        return;
    CHECK_EQ_INT(get_entry(c, 1), 0);
    CHECK_EQ_INT(put_entry(c, 1), EEM_OK);
    CHECK_EQ_INT(get_entry(c, 1), 1);
    CHECK_EQ_INT(count_files(eem_cache_dir(c), ".tmp-"), 0); /* renamed into place */
    CHECK_EQ_INT(count_files(eem_cache_dir(c), ""), 1);

    /* overwrite = replace */
    CHECK_EQ_INT(put_entry(c, 1), EEM_OK);
    CHECK_EQ_INT(get_entry(c, 1), 1);

    /* a flipped payload byte: miss, entry removed, counted as corrupt */
    char path[1024];
    entry_file(c, 1, path, sizeof path);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    unsigned char byte;
    pread(fd, &byte, 1, 300);
    byte ^= 0x40;
    pwrite(fd, &byte, 1, 300);
    close(fd);
    eem_cache_stats st;
    CHECK_EQ_INT(get_entry(c, 1), 0);
    eem_cache_get_stats(c, &st);
    CHECK_EQ_INT(st.corrupt, 1);
    CHECK(access(path, F_OK) != 0);

    /* truncated */
    put_entry(c, 1);
    CHECK_EQ_INT(truncate(path, 500), 0);
    CHECK_EQ_INT(get_entry(c, 1), 0);
    CHECK(access(path, F_OK) != 0);

    /* a damaged checksum */
    put_entry(c, 1);
    struct stat sb;
    stat(path, &sb);
    fd = open(path, O_RDWR);
    pread(fd, &byte, 1, sb.st_size - 1);
    byte ^= 1;
    pwrite(fd, &byte, 1, sb.st_size - 1);
    close(fd);
    CHECK_EQ_INT(get_entry(c, 1), 0);

    /* another key's (valid) entry under this key's name is not served */
    put_entry(c, 2);
    char other[1024];
    entry_file(c, 2, other, sizeof other);
    char sub[1024];
    snprintf(sub, sizeof sub, "%s", path);
    *strrchr(sub, '/') = '\0';
    mkdir(sub, 0777);
    CHECK_EQ_INT(link(other, path), 0);
    CHECK_EQ_INT(get_entry(c, 1), 0);
    CHECK_EQ_INT(get_entry(c, 2), 1);

    /* asking with other sizes: miss */
    put_entry(c, 3);
    unsigned char a[PART_A], b[PART_B + 1];
    void *parts[2] = {a, b};
    size_t sizes[2] = {PART_A, PART_B + 1};
    eem_cache_key key;
    make_key(&key, 3);
    CHECK_EQ_INT(eem_cache_get(c, &key, parts, sizes, 2), 0);
    eem_cache_get_stats(c, &st);
    CHECK_EQ_INT(st.corrupt, 5);
    CHECK_EQ_INT(st.hits, 3);
    eem_cache_close(c);

    /* a plain file where the folder should be */
    char file[512];
    snprintf(file, sizeof file, "%s/plainfile", root);
    FILE *f = fopen(file, "w");
    fclose(f);
    CHECK(eem_cache_open(file, 0, &c, &err) != EEM_OK);
    CHECK(c == NULL);
    CHECK_CONTAINS(err.msg, "plainfile");
}

static void test_eviction(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/lru", root);
    eem_cache *c = NULL;
    eem_error err = {0};
    /* one entry: header 48 + 16 + parts 1333 + 32 = 1429 bytes; room for 5 */
    long long entry = 48 + 16 + PART_A + PART_B + 32;
    CHECK_EQ_INT(eem_cache_open(dir, 5 * entry + 10, &c, &err), EEM_OK);
    if (!c)
        return;
    time_t now = time(NULL);
    for (int n = 0; n < 5; n++) {
        CHECK_EQ_INT(put_entry(c, n), EEM_OK);
        char path[1024];
        entry_file(c, n, path, sizeof path);
        set_mtime(path, now - 1000 + n * 10); /* entry 0 is the oldest */
    }
    long long total = 0;
    CHECK_EQ_INT(eem_cache_trim(c, &total, &err), EEM_OK);
    CHECK_EQ_INT(total, 5 * entry);
    /* a hit refreshes entry 0: entry 1 is now the least recently used */
    CHECK_EQ_INT(get_entry(c, 0), 1);
    CHECK_EQ_INT(put_entry(c, 5), EEM_OK); /* 6 entries > cap: evict down to 90% */
    CHECK_EQ_INT(get_entry(c, 0), 1);
    CHECK_EQ_INT(get_entry(c, 1), 0);
    CHECK_EQ_INT(get_entry(c, 5), 1);
    CHECK_EQ_INT(eem_cache_trim(c, &total, &err), EEM_OK);
    CHECK(total <= 5 * entry + 10);
    eem_cache_stats st;
    eem_cache_get_stats(c, &st);
    CHECK(st.evicted >= 1);

    /* many more writes: the folder never ends over the cap */
    for (int n = 10; n < 60; n++)
        put_entry(c, n);
    CHECK_EQ_INT(eem_cache_trim(c, &total, &err), EEM_OK);
    CHECK(total <= 5 * entry + 10);
    CHECK_EQ_INT(get_entry(c, 59), 1); /* the newest survives */

    /* stale temporary files are removed, fresh ones (a writer at work) kept */
    char stale[1100], fresh[1100], path[1024];
    entry_file(c, 59, path, sizeof path);
    *strrchr(path, '/') = '\0';
    snprintf(stale, sizeof stale, "%s/.tmp-1-1", path);
    snprintf(fresh, sizeof fresh, "%s/.tmp-1-2", path);
    fclose(fopen(stale, "w"));
    fclose(fopen(fresh, "w"));
    set_mtime(stale, now - 7200);
    eem_cache_trim(c, &total, &err);
    CHECK(access(stale, F_OK) != 0);
    CHECK(access(fresh, F_OK) == 0);
    eem_cache_close(c);
}

static void test_configured(void)
{
    eem_cache *c = NULL;
    eem_error err = {0};
    CPLSetConfigOption("EEMODEL_CACHE_DIR", NULL);
    CHECK_EQ_INT(eem_cache_open_configured(NULL, &c, &err), EEM_OK);
    CHECK(c == NULL);

    char dir[512];
    snprintf(dir, sizeof dir, "%s/conf", root);
    CPLSetConfigOption("EEMODEL_CACHE_DIR", dir);
    CHECK_EQ_INT(eem_cache_open_configured(NULL, &c, &err), EEM_OK);
    CHECK(c != NULL);
    if (c)
        CHECK_CONTAINS(eem_cache_dir(c), "/conf");
    eem_cache_close(c);

    /* the descriptor's CACHE_DIR wins over the config option */
    char dir2[512];
    snprintf(dir2, sizeof dir2, "%s/spec", root);
    CHECK_EQ_INT(eem_cache_open_configured(dir2, &c, &err), EEM_OK);
    if (c)
        CHECK_CONTAINS(eem_cache_dir(c), "/spec");
    eem_cache_close(c);

    CPLSetConfigOption("EEMODEL_CACHE_MAX_SIZE", "lots");
    c = NULL;
    CHECK_EQ_INT(eem_cache_open_configured(NULL, &c, &err), EEM_ERR_INVALID);
    CHECK(c == NULL);
    CHECK_CONTAINS(err.msg, "EEMODEL_CACHE_MAX_SIZE");
    CHECK_CONTAINS(err.msg, "\"lots\"");
    CPLSetConfigOption("EEMODEL_CACHE_MAX_SIZE", NULL);

    char file[512];
    snprintf(file, sizeof file, "%s/plainfile", root);
    CHECK(eem_cache_open_configured(file, &c, &err) != EEM_OK);
    CHECK_CONTAINS(err.msg, "CACHE_DIR");
    CPLSetConfigOption("EEMODEL_CACHE_DIR", NULL);
}

/* Two processes write overlapping key sets into one capped folder at once;
 * afterwards every entry present is whole, and none is served damaged. */
static void test_two_processes(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/shared", root);
    long long entry = 48 + 16 + PART_A + PART_B + 32;
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            eem_cache *c = NULL;
            eem_error err = {0};
            if (eem_cache_open(dir, 40 * entry, &c, &err) != EEM_OK)
                _exit(2);
            int bad = 0;
            for (int round = 0; round < 3; round++)
                for (int n = 0; n < 60; n++) {
                    int key = k == 0 ? n : 59 - n; /* opposite orders, same keys */
                    if (put_entry(c, key) != EEM_OK)
                        bad++;
                    if (get_entry(c, (key + 7) % 60) < 0)
                        bad++; /* a wrong hit would be a failure; a miss is fine */
                }
            eem_cache_close(c);
            _exit(bad ? 1 : 0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int status = -1;
        waitpid(kids[k], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    eem_cache *c = NULL;
    eem_error err = {0};
    CHECK_EQ_INT(eem_cache_open(dir, 40 * entry, &c, &err), EEM_OK);
    if (!c)
        return;
    int hits = 0;
    for (int n = 0; n < 60; n++) {
        int r = get_entry(c, n);
        CHECK(r >= 0);
        hits += r == 1;
    }
    eem_cache_stats st;
    eem_cache_get_stats(c, &st);
    CHECK_EQ_INT(st.corrupt, 0);
    CHECK(hits >= 20);
    CHECK_EQ_INT(count_files(eem_cache_dir(c), ".tmp-"), 0);
    long long total = 0;
    eem_cache_trim(c, &total, &err);
    CHECK(total <= 40 * entry);
    eem_cache_close(c);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/eem-test-cache-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    test_parse_size();
    test_keys();
    test_round_trip_and_damage();
    test_eviction();
    test_configured();
    test_two_processes();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    return check_report();
}
