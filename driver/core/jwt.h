/* jwt.h — RS256-signed JSON Web Tokens for the OAuth2 JWT-bearer grant.
 *
 * eem_jwt_sign_rs256() signs base64url(header) "." base64url(claims) with an
 * RSA private key given as PEM text (PKCS#8 "BEGIN PRIVATE KEY" as in Google
 * service-account keys, or PKCS#1 "BEGIN RSA PRIVATE KEY") using OpenSSL EVP,
 * RSASSA-PKCS1-v1_5 with SHA-256, and returns the compact JWS, base64url
 * without padding.  The returned assertion is a secret: free it with
 * eem_secret_free().  Key material is wiped when the key is freed; errors never
 * quote the key. */
#ifndef EEM_JWT_H
#define EEM_JWT_H

#include "error.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The claims of a JWT-bearer assertion (protocols.md 6.2). */
typedef struct eem_jwt_claims {
    const char *iss;   /* client_email */
    const char *scope; /* space-separated scopes */
    const char *aud;   /* the token endpoint */
    const char *sub;   /* user to impersonate, NULL for none */
    long long iat;     /* issued at, seconds since the epoch */
    long long exp;     /* expiry, seconds since the epoch */
} eem_jwt_claims;

/* Base64url of data without padding, appended to a new owned string (*out). */
eem_status eem_base64url_encode(const void *data, size_t len, char **out, eem_error *err);

/* Sign header_json "." claims_json; *jwt is an owned secret. */
eem_status eem_jwt_sign_rs256(const char *pem_key, const char *header_json,
                              const char *claims_json, char **jwt, eem_error *err);

/* Build and sign the assertion of a service account: header
 * {"alg":"RS256","typ":"JWT"[,"kid":key_id]} and the claims c. */
eem_status eem_jwt_service_account_assertion(const char *pem_key, const char *key_id,
                                             const eem_jwt_claims *c, char **jwt,
                                             eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
