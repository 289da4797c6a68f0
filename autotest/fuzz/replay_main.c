/* replay_main.c — a standalone main for the fuzz targets: runs every file of
 * the corpus folders (or files) given on the command line once through
 * LLVMFuzzerTestOneInput, so CI replays each corpus as an ordinary ctest with
 * any compiler and sanitizer.  Fails when a folder is missing or holds no
 * input (an empty corpus would prove nothing).
 *
 *   fuzz_spec_replay autotest/fuzz/corpus/spec [more folders or files...] */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define REPLAY_MAX_INPUT_BYTES (64L * 1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target; the replay calls it once when present. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Read a whole file into a malloc'ed buffer (caller frees); NULL on failure. */
static uint8_t *read_file_new(const char *path, size_t *size)
{
    uint8_t *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0)
        goto done;
    long n = ftell(f);
    if (n < 0 || n > REPLAY_MAX_INPUT_BYTES || fseek(f, 0, SEEK_SET) != 0)
        goto done;
    data = malloc((size_t)n + 1);
    if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
        free(data);
        data = NULL;
    }
    *size = (size_t)n;
done:
    fclose(f);
    return data;
}

static int run_file(const char *path)
{
    size_t size = 0;
    uint8_t *data = read_file_new(path, &size);
    if (!data) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        return -1;
    }
    /* An exact-size copy, so ASan sees reads past the end of the input. */
    uint8_t *exact = malloc(size ? size : 1);
    if (!exact) {
        free(data);
        return -1;
    }
    memcpy(exact, data, size);
    free(data);
    LLVMFuzzerTestOneInput(exact, size);
    free(exact);
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run every regular file of a folder, in name order; returns the count or -1. */
static long run_folder(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: cannot open folder %s\n", dir);
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        names[n] = strdup(e->d_name);
        if (names[n])
            n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, compare_names);
    long ran = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && run_file(path) == 0)
            ran++;
        free(names[i]);
    }
    free(names);
    return ran;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_FOLDER_OR_FILE...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    long total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        long ran;
        if (stat(argv[i], &sb) != 0) {
            fprintf(stderr, "replay: %s does not exist\n", argv[i]);
            return 1;
        }
        if (S_ISDIR(sb.st_mode))
            ran = run_folder(argv[i]);
        else
            ran = run_file(argv[i]) == 0 ? 1 : -1;
        if (ran <= 0) {
            fprintf(stderr, "replay: no input could be run from %s\n", argv[i]);
            return 1;
        }
        total += ran;
    }
    printf("replay: %ld input(s) ran without a crash\n", total);
    return 0;
}
