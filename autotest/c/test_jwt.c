/* test_jwt.c — RS256 JWTs: unpadded base64url against RFC 4648 vectors, and
 * assertions signed by jwt.c verified independently with OpenSSL's
 * EVP_DigestVerify and the public half of a key generated at test time; the
 * header and claims decode to what was asked; bad keys fail without quoting
 * the key. */
#define _POSIX_C_SOURCE 200809L

#include "check.h"
#include "jwt.h"
#include "auth.h"

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <stdlib.h>
#include <string.h>

static void test_base64url(void)
{
    static const struct {
        const char *in, *out;
    } v[] = {{"", ""},         {"f", "Zg"},         {"fo", "Zm8"},       {"foo", "Zm9v"},
             {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char *s = NULL;
        CHECK_EQ_INT(eem_base64url_encode(v[i].in, strlen(v[i].in), &s, NULL), EEM_OK);
        CHECK(s && strcmp(s, v[i].out) == 0);
        free(s);
    }
    /* the URL-safe alphabet: 0xfb 0xff -> "-_8" (standard base64 would say "+/8=") */
    const unsigned char bytes[] = {0xfb, 0xff};
    char *s = NULL;
    CHECK_EQ_INT(eem_base64url_encode(bytes, 2, &s, NULL), EEM_OK);
    CHECK(s && strcmp(s, "-_8") == 0);
    free(s);
}

/* base64url decode (test side, independent of jwt.c) */
static unsigned char *b64url_decode(const char *s, size_t n, size_t *out_len)
{
    unsigned char *out = malloc(n + 1);
    size_t o = 0;
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        const char *p = strchr(alpha, s[i]);
        if (!p || !s[i]) {
            free(out);
            return NULL;
        }
        v = (v << 6) | (unsigned)(p - alpha);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(v >> bits);
        }
    }
    out[o] = 0;
    *out_len = o;
    return out;
}

static char *generate_key_pem(EVP_PKEY **pkey)
{
    *pkey = EVP_RSA_gen(2048);
    if (!*pkey)
        return NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, *pkey, NULL, NULL, 0, NULL, NULL);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *pem = malloc((size_t)n + 1);
    memcpy(pem, data, (size_t)n);
    pem[n] = '\0';
    BIO_free(bio);
    return pem;
}

static void test_assertion(void)
{
    EVP_PKEY *pkey = NULL;
    char *pem = generate_key_pem(&pkey);
    CHECK(pem != NULL);
    if (!pem)
        return;
    CHECK_CONTAINS(pem, "-----BEGIN PRIVATE KEY-----");
    eem_jwt_claims c = {"sa@p.iam.gserviceaccount.com", "https://www.googleapis.com/auth/cloud-platform",
                        "https://oauth2.googleapis.com/token", NULL, 1700000000LL, 1700003600LL};
    char *jwt = NULL;
    eem_error err = {0};
    CHECK_EQ_INT(eem_jwt_service_account_assertion(pem, "kid-7", &c, &jwt, &err), EEM_OK);
    CHECK(jwt != NULL);
    if (jwt) {
        CHECK(strchr(jwt, '=') == NULL && strchr(jwt, '+') == NULL && strchr(jwt, '/') == NULL);
        char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
        CHECK(d1 && d2 && !strchr(d2 + 1, '.'));
        if (d1 && d2) {
            size_t hl, cl, sl;
            unsigned char *h = b64url_decode(jwt, (size_t)(d1 - jwt), &hl);
            unsigned char *cj = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &cl);
            unsigned char *sig = b64url_decode(d2 + 1, strlen(d2 + 1), &sl);
            CHECK(h && cj && sig);
            json_object *ho = h ? json_tokener_parse((char *)h) : NULL;
            json_object *co = cj ? json_tokener_parse((char *)cj) : NULL;
            json_object *v;
            CHECK(ho && json_object_object_get_ex(ho, "alg", &v) &&
                  strcmp(json_object_get_string(v), "RS256") == 0);
            CHECK(ho && json_object_object_get_ex(ho, "typ", &v) &&
                  strcmp(json_object_get_string(v), "JWT") == 0);
            CHECK(ho && json_object_object_get_ex(ho, "kid", &v) &&
                  strcmp(json_object_get_string(v), "kid-7") == 0);
            CHECK(co && json_object_object_get_ex(co, "iss", &v) &&
                  strcmp(json_object_get_string(v), c.iss) == 0);
            CHECK(co && json_object_object_get_ex(co, "aud", &v) &&
                  strcmp(json_object_get_string(v), c.aud) == 0);
            CHECK(co && json_object_object_get_ex(co, "scope", &v) &&
                  strcmp(json_object_get_string(v), c.scope) == 0);
            CHECK(co && json_object_object_get_ex(co, "iat", &v) && json_object_get_int64(v) == c.iat);
            CHECK(co && json_object_object_get_ex(co, "exp", &v) && json_object_get_int64(v) == c.exp);
            CHECK(co && !json_object_object_get_ex(co, "sub", &v));
            json_object_put(ho);
            json_object_put(co);
            /* independent verification with the public key */
            CHECK_EQ_INT(sl, 256);
            EVP_MD_CTX *md = EVP_MD_CTX_new();
            int ok = sig && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
                     EVP_DigestVerify(md, sig, sl, (const unsigned char *)jwt, (size_t)(d2 - jwt)) == 1;
            CHECK(ok);
            /* a changed claim no longer verifies */
            char *tampered = strdup(jwt);
            tampered[(d1 - jwt) + 3] = tampered[(d1 - jwt) + 3] == 'A' ? 'B' : 'A';
            EVP_MD_CTX_reset(md);
            int bad = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
                      EVP_DigestVerify(md, sig, sl, (const unsigned char *)tampered,
                                       (size_t)(d2 - jwt)) == 1;
            CHECK(!bad);
            free(tampered);
            EVP_MD_CTX_free(md);
            free(h);
            free(cj);
            free(sig);
        }
    }
    eem_secret_free(jwt);

    /* a missing claim is refused before signing */
    eem_jwt_claims no_aud = c;
    no_aud.aud = "";
    jwt = NULL;
    CHECK_EQ_INT(eem_jwt_service_account_assertion(pem, NULL, &no_aud, &jwt, &err), EEM_ERR_INVALID);
    CHECK(jwt == NULL);
    CHECK_CONTAINS(err.msg, "aud");

    /* a damaged key fails without quoting it */
    char *broken = strdup(pem);
    char *body = strstr(broken, "\n") + 1;
    memcpy(body, "AAAAAAAAAAAAAAAAAAAAAAAA", 24);
    CHECK_EQ_INT(eem_jwt_sign_rs256(broken, "{}", "{}", &jwt, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "private_key");
    CHECK(strstr(err.msg, "AAAAAAAAAAAA") == NULL && strstr(err.msg, body + 30) == NULL);
    free(broken);
    CHECK_EQ_INT(eem_jwt_sign_rs256("not a key", "{}", "{}", &jwt, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "not a PEM private key");

    /* RS256 needs RSA: an EC key is refused */
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, ec, NULL, NULL, 0, NULL, NULL);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *ec_pem = strndup(data, (size_t)n);
    CHECK_EQ_INT(eem_jwt_sign_rs256(ec_pem, "{}", "{}", &jwt, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "not an RSA key");
    free(ec_pem);
    BIO_free(bio);
    EVP_PKEY_free(ec);

    EVP_PKEY_free(pkey);
    eem_secret_free(pem);
}

int main(void)
{
    test_base64url();
    test_assertion();
    return check_report();
}
