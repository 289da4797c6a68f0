/* jwt.c — RS256 JSON Web Tokens (see jwt.h).
 *
 * Owns: unpadded base64url, the JWS signing input, RSASSA-PKCS1-v1_5 SHA-256
 * signatures with OpenSSL EVP, and the JSON of a service account's assertion.
 * Every buffer that held key material or the signed assertion is cleansed
 * before it is freed. */
#include "jwt.h"

#include "secret.h"
#include "buf.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <stdlib.h>
#include <string.h>

#define EEM_JWT_MAX_PEM_BYTES (64 * 1024)

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

eem_status eem_base64url_encode(const void *data, size_t len, char **out, eem_error *err)
{
    const unsigned char *p = data;
    size_t n = (len / 3) * 4 + (len % 3 ? len % 3 + 1 : 0);
    char *s = malloc(n + 1);
    *out = NULL;
    if (!s)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory encoding base64url");
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        s[o++] = B64URL[v >> 18 & 63];
        s[o++] = B64URL[v >> 12 & 63];
        s[o++] = B64URL[v >> 6 & 63];
        s[o++] = B64URL[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        s[o++] = B64URL[v >> 18 & 63];
        s[o++] = B64URL[v >> 12 & 63];
    } else if (len - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        s[o++] = B64URL[v >> 18 & 63];
        s[o++] = B64URL[v >> 12 & 63];
        s[o++] = B64URL[v >> 6 & 63];
    }
    s[o] = '\0';
    *out = s;
    return EEM_OK;
}

/* The first OpenSSL error as text (never key material: OpenSSL reports reasons). */
static const char *openssl_reason(char *buf, size_t n)
{
    unsigned long e = ERR_get_error();
    if (!e)
        return "unknown OpenSSL error";
    ERR_error_string_n(e, buf, n);
    ERR_clear_error();
    return buf;
}

/* Parse PEM text into a private key (owned, EVP_PKEY_free wipes it). */
static eem_status private_key_from_pem(const char *pem, EVP_PKEY **key, eem_error *err)
{
    char why[256];
    *key = NULL;
    size_t n = strlen(pem);
    if (n == 0 || n > EEM_JWT_MAX_PEM_BYTES || !strstr(pem, "-----BEGIN"))
        return eem_error_set(err, EEM_ERR_INVALID,
                             "private_key: not a PEM private key (expected \"-----BEGIN PRIVATE "
                             "KEY-----\" text of at most %d bytes)",
                             EEM_JWT_MAX_PEM_BYTES);
    BIO *bio = BIO_new_mem_buf(pem, (int)n);
    if (!bio)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory reading the private key");
    /* No password callback: an encrypted key fails instead of prompting. */
    *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
    BIO_free(bio);
    if (!*key)
        return eem_error_set(err, EEM_ERR_INVALID, "private_key: cannot read the PEM key: %s",
                             openssl_reason(why, sizeof why));
    if (EVP_PKEY_get_base_id(*key) != EVP_PKEY_RSA) {
        EVP_PKEY_free(*key);
        *key = NULL;
        return eem_error_set(err, EEM_ERR_INVALID,
                             "private_key: the key is not an RSA key; RS256 needs one");
    }
    return EEM_OK;
}

eem_status eem_jwt_sign_rs256(const char *pem_key, const char *header_json,
                              const char *claims_json, char **jwt, eem_error *err)
{
    eem_status st = EEM_OK;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *md = NULL;
    char *h64 = NULL, *c64 = NULL, *s64 = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    eem_buf input = {0}, out = {0};
    char why[256];
    *jwt = NULL;

    if ((st = private_key_from_pem(pem_key, &key, err)))
        goto done;
    if ((st = eem_base64url_encode(header_json, strlen(header_json), &h64, err)) ||
        (st = eem_base64url_encode(claims_json, strlen(claims_json), &c64, err)))
        goto done;
    /* room reserved up front: growing would leave unwiped copies behind */
    eem_buf_reserve(&input, strlen(h64) + 1 + strlen(c64));
    eem_buf_puts(&input, h64);
    eem_buf_puts(&input, ".");
    eem_buf_puts(&input, c64);
    if (input.failed) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory signing the JWT");
        goto done;
    }
    md = EVP_MD_CTX_new();
    if (!md) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory signing the JWT");
        goto done;
    }
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, NULL, &sig_len, (const unsigned char *)input.data, input.len) != 1) {
        st = eem_error_set(err, EEM_ERR_INVALID, "cannot sign the JWT (RS256): %s",
                           openssl_reason(why, sizeof why));
        goto done;
    }
    sig = malloc(sig_len);
    if (!sig) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory signing the JWT");
        goto done;
    }
    if (EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)input.data, input.len) != 1) {
        st = eem_error_set(err, EEM_ERR_INVALID, "cannot sign the JWT (RS256): %s",
                           openssl_reason(why, sizeof why));
        goto done;
    }
    if ((st = eem_base64url_encode(sig, sig_len, &s64, err)))
        goto done;
    eem_buf_reserve(&out, input.len + 1 + strlen(s64));
    eem_buf_append(&out, input.data, input.len);
    eem_buf_puts(&out, ".");
    eem_buf_puts(&out, s64);
    *jwt = eem_buf_take(&out);
    if (!*jwt)
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory signing the JWT");

done:
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    if (sig) {
        OPENSSL_cleanse(sig, sig_len);
        free(sig);
    }
    eem_secret_buf_free(&input);
    eem_secret_buf_free(&out);
    free(h64);
    eem_secret_free(c64);
    eem_secret_free(s64);
    return st;
}

eem_status eem_jwt_service_account_assertion(const char *pem_key, const char *key_id,
                                             const eem_jwt_claims *c, char **jwt,
                                             eem_error *err)
{
    eem_buf h = {0}, b = {0};
    *jwt = NULL;
    if (!c->iss || !*c->iss || !c->aud || !*c->aud || !c->scope || !*c->scope)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "a JWT assertion needs iss (client_email), aud (token_uri) and scope");
    eem_buf_puts(&h, "{\"alg\":\"RS256\",\"typ\":\"JWT\"");
    if (key_id && *key_id) {
        eem_buf_puts(&h, ",\"kid\":");
        eem_buf_json_string(&h, key_id);
    }
    eem_buf_puts(&h, "}");
    eem_buf_puts(&b, "{\"iss\":");
    eem_buf_json_string(&b, c->iss);
    eem_buf_puts(&b, ",\"scope\":");
    eem_buf_json_string(&b, c->scope);
    eem_buf_puts(&b, ",\"aud\":");
    eem_buf_json_string(&b, c->aud);
    if (c->sub && *c->sub) {
        eem_buf_puts(&b, ",\"sub\":");
        eem_buf_json_string(&b, c->sub);
    }
    eem_buf_printf(&b, ",\"iat\":%lld,\"exp\":%lld}", c->iat, c->exp);
    eem_status st;
    if (h.failed || b.failed)
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory building the JWT");
    else
        st = eem_jwt_sign_rs256(pem_key, h.data, b.data, jwt, err);
    eem_buf_free(&h);
    eem_buf_free(&b);
    return st;
}
