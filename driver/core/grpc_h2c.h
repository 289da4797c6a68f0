/* grpc_h2c.h — which connection caches hold a usable h2c connection, so that
 * gRPC calls over grpc:// share one HTTP/2 connection despite Debian 12's
 * libcurl 7.88.1 (curl issue #10634: a transfer that reuses a pooled
 * prior-knowledge connection fails with CURLE_HTTP2 and breaks it).
 *
 * The way round it (workaround B of shared/reference/grpc.md): the call that
 * finds no connection to its server in its connection cache opens one with
 * prior knowledge on a fresh connection (CURLOPT_FRESH_CONNECT, so a prior-
 * knowledge transfer never reuses anything); every later call uses
 * CURL_HTTP_VERSION_2_0 + CURLOPT_PIPEWAIT and is multiplexed on that
 * connection (while it is still being opened, too: PIPEWAIT waits for it).
 * When the connection is gone (idle GOAWAY, server restart) a 2_0 call fails
 * at once with CURLE_UNSUPPORTED_PROTOCOL before the server saw the call; the
 * caller forgets the connection and retries that call at once.
 *
 * A connection cache is named by an opaque pointer (the curl multi handle of
 * http.c), a server by the scheme://host:port of its URL.  A bounded,
 * mutex-protected table; a stale entry (a freed cache whose address is
 * reused) costs one fast retry.  Each opening gets a new generation number,
 * so that a failed call forgets only the connection it used. */
#ifndef EEM_GRPC_H2C_H
#define EEM_GRPC_H2C_H

#ifdef __cplusplus
extern "C" {
#endif

/* How the next call to url through connection cache `pool` connects:
 * returns 1 when it must open the connection (prior knowledge, fresh), 0 when
 * it reuses the known one (HTTP/2 + PIPEWAIT).  force: open whatever is known.
 * *generation: the connection the call opens or uses. */
int eem_grpc_h2c_call_opens(const void *pool, const char *url, int force,
                            unsigned long *generation);

/* A call on connection `generation` failed at the transport level: the next
 * call opens a new connection, unless a newer one was opened meanwhile. */
void eem_grpc_h2c_forget(const void *pool, const char *url, unsigned long generation);

#ifdef __cplusplus
}
#endif
#endif
