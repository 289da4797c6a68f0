/* job_budget.c — the job-wide prediction count in the cache folder (see
 * job_budget.h).  The file holds one decimal number; each update locks the
 * whole file (F_SETLKW), reads, checks, rewrites and unlocks. */
#define _POSIX_C_SOURCE 200809L

#include "job_budget.h"

#include "config_values.h"

#include <cpl_conv.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

long eem_job_budget_limit(long spec_value)
{
    if (spec_value > 0)
        return spec_value;
    return (long)eem_config_number(EEM_NUM_JOB_MAX_PREDICTIONS);
}

eem_status eem_job_budget_check_config(long spec_value, eem_error *err)
{
    return spec_value > 0 ? EEM_OK : eem_config_number_check(EEM_NUM_JOB_MAX_PREDICTIONS, err);
}

static int counter_path(const char *dir, char *buf, size_t n)
{
    return snprintf(buf, n, "%s/" EEM_JOB_BUDGET_FILE, dir) < (int)n ? 0 : -1;
}

static long long read_count(int fd)
{
    char text[32];
    ssize_t got = pread(fd, text, sizeof text - 1, 0);
    if (got < 0)
        return -1;
    text[got] = '\0';
    return got == 0 ? 0 : strtoll(text, NULL, 10);
}

static int lock_whole(int fd, short type)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    int rc;
    do
        rc = fcntl(fd, F_SETLKW, &fl);
    while (rc != 0 && errno == EINTR);
    return rc;
}

eem_status eem_job_budget_take(const char *dir, long limit, long n, eem_error *err)
{
    char path[PATH_MAX];
    if (limit <= 0 || n <= 0)
        return EEM_OK;
    if (!dir || counter_path(dir, path, sizeof path) != 0)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "JOB_MAX_PREDICTIONS: the job's count is kept in the cache folder; "
                             "set CACHE_DIR (or EEMODEL_CACHE_DIR) to a folder every process of "
                             "the job shares (a file system, not object storage)");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        return eem_error_set(err, EEM_ERR_IO, "JOB_MAX_PREDICTIONS: counter \"%s\" cannot be "
                             "opened: %s", path, strerror(errno));
    eem_status st = EEM_OK;
    if (lock_whole(fd, F_WRLCK) != 0) {
        st = eem_error_set(err, EEM_ERR_IO, "JOB_MAX_PREDICTIONS: counter \"%s\" cannot be "
                           "locked: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    long long used = read_count(fd);
    if (used < 0) {
        st = eem_error_set(err, EEM_ERR_IO, "JOB_MAX_PREDICTIONS: counter \"%s\" cannot be "
                           "read: %s", path, strerror(errno));
    } else if (used + n > limit) {
        st = eem_error_set(err, EEM_ERR_LIMIT,
                           "JOB_MAX_PREDICTIONS: the job has sent %lld of its %ld predictions "
                           "(counted in \"%s\" by every process sharing the cache folder); a "
                           "request of %ld more would pass the budget, so it was not sent. Raise "
                           "JOB_MAX_PREDICTIONS, or delete that file to start a new job",
                           used, limit, path, n);
    } else {
        char text[32];
        int len = snprintf(text, sizeof text, "%lld\n", used + n);
        if (pwrite(fd, text, (size_t)len, 0) != len || ftruncate(fd, len) != 0)
            st = eem_error_set(err, EEM_ERR_IO, "JOB_MAX_PREDICTIONS: counter \"%s\" cannot "
                               "be written: %s", path, strerror(errno));
    }
    (void)lock_whole(fd, F_UNLCK);
    close(fd);
    return st;
}

long long eem_job_budget_used(const char *dir)
{
    char path[PATH_MAX];
    if (!dir || counter_path(dir, path, sizeof path) != 0)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    long long used = -1;
    if (lock_whole(fd, F_RDLCK) == 0) {
        used = read_count(fd);
        (void)lock_whole(fd, F_UNLCK);
    }
    close(fd);
    return used;
}
