/* cache_vsi.c — object storage transport of the persistent cache through
 * GDAL's VSI (see cache_vsi.h).  GDAL's own errors are silenced with a
 * quiet handler: a miss or a failed upload is reported through the return
 * value, never through CPLError. */
#define _GNU_SOURCE /* VSIStatBufL is a struct stat64 */
#include "cache_vsi.h"

#include <cpl_error.h>
#include <cpl_vsi.h>

#include <stdlib.h>
#include <string.h>

static const char *const object_prefixes[] = {"/vsis3/", "/vsigs/", "/vsiaz/"};

int eem_cache_vsi_is_object_storage(const char *dir)
{
    for (size_t i = 0; i < sizeof object_prefixes / sizeof object_prefixes[0]; i++)
        if (dir && strncmp(dir, object_prefixes[i], strlen(object_prefixes[i])) == 0)
            return 1;
    return 0;
}

eem_status eem_cache_vsi_check(const char *dir, eem_error *err)
{
    /* the bucket: the prefix and the first path element */
    const char *rest = strchr(dir + 1, '/');
    rest = rest ? strchr(rest + 1, '/') : NULL;
    size_t n = rest ? (size_t)(rest - dir) : strlen(dir);
    char *bucket = malloc(n + 1);
    if (!bucket)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    memcpy(bucket, dir, n);
    bucket[n] = '\0';
    VSIStatBufL st;
    CPLPushErrorHandler(CPLQuietErrorHandler);
    int rc = VSIStatL(bucket, &st);
    CPLPopErrorHandler();
    eem_status status = EEM_OK;
    if (rc != 0 || !VSI_ISDIR(st.st_mode))
        status = eem_error_set(err, EEM_ERR_INVALID,
                               "bucket \"%s\" cannot be reached or listed (check the bucket name, "
                               "credentials and endpoint options such as AWS_S3_ENDPOINT)",
                               bucket);
    free(bucket);
    return status;
}

int eem_cache_vsi_read(const char *path, size_t max_len, unsigned char **data, size_t *len)
{
    GByte *bytes = NULL;
    vsi_l_offset size = 0;
    *data = NULL;
    *len = 0;
    CPLPushErrorHandler(CPLQuietErrorHandler);
    int ok = VSIIngestFile(NULL, path, &bytes, &size, (GIntBig)max_len);
    CPLPopErrorHandler();
    if (!ok) {
        VSIFree(bytes);
        return -1;
    }
    unsigned char *copy = malloc(size ? (size_t)size : 1);
    if (!copy) {
        VSIFree(bytes);
        return -1;
    }
    memcpy(copy, bytes, (size_t)size);
    VSIFree(bytes);
    *data = copy;
    *len = (size_t)size;
    return 0;
}

eem_status eem_cache_vsi_write_if_absent(const char *path, const void *data, size_t len,
                                         int *existed, eem_error *err)
{
    VSIStatBufL st;
    *existed = 0;
    CPLPushErrorHandler(CPLQuietErrorHandler);
    if (VSIStatL(path, &st) == 0) {
        CPLPopErrorHandler();
        *existed = 1;
        return EEM_OK;
    }
    VSILFILE *fp = VSIFOpenL(path, "wb");
    int ok = fp != NULL && VSIFWriteL(data, 1, len, fp) == len;
    if (fp && VSIFCloseL(fp) != 0) /* the upload happens at close */
        ok = 0;
    CPLPopErrorHandler();
    if (!ok)
        return eem_error_set(err, EEM_ERR_IO, "cache object \"%s\" cannot be written", path);
    return EEM_OK;
}
