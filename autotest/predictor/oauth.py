"""OAuth2 token endpoint and metadata-server emulation for the stand-in predictor.

Google's side of the credential chain, small and strict, so that the driver's
auth.c is checked against an independent implementation:

- POST /token, grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer: the
  assertion must be three unpadded base64url parts, header alg RS256, signed
  (RSASSA-PKCS1-v1_5 SHA-256) by the registered public key of its iss, with
  scope (containing the expected scope), aud (this endpoint's URL unless
  configured), iat (not in the future) and exp (after now, at most one hour
  after iat).  Errors: 400 {"error": "invalid_grant", "error_description": ...}.
- POST /token, grant_type=refresh_token: client_id, client_secret and
  refresh_token must match a registered authorized user.
- GET / and GET /computeMetadata/v1/instance/service-accounts/default/token:
  the metadata server; the request must carry "Metadata-Flavor: Google" (else
  403) and answers carry it too.
- Issued tokens expire after `lifetime` seconds; predict requests with an
  expired or unknown token get 401 (server.py asks `token_source`).

Control routes (JSON):
- POST /_oauth: register and configure; keys service_accounts
  ([{client_email, public_key_pem}]), authorized_users ([{client_id,
  client_secret, refresh_token}]), lifetime (s), audience (expected aud, null =
  this endpoint's URL), scope (expected scope), clock_offset (s added to the
  server's clock), token_delay (s of sleep per token answer), metadata (bool:
  emulate the metadata server), metadata_flavor_reply (bool: answer with the
  Metadata-Flavor header), reject_all (bool: every bearer token gets 401).
- POST /_oauth/expire: every token issued so far expires now.
- GET /_oauth/log: token and metadata requests, in order ({grant, status,
  error, source, path}); never a secret.
Everything is cleared by POST /_reset (server.py calls `reset`).
"""

import base64
import binascii
import json
import secrets
import threading
import time
import urllib.parse

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

TOKEN_PATH = "/token"
METADATA_PING_PATH = "/"
METADATA_TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_LIFETIME_S = 3600
MAX_ASSERTION_LIFETIME_S = 3600
IAT_LEEWAY_S = 60                   # iat may be this far in the future (clock skew)
MAX_FORM_BYTES = 64 * 1024
TOKEN_PREFIX = "ya29.standin-"

DEFAULT_CONFIG = {
    "lifetime": DEFAULT_LIFETIME_S,
    "audience": None,
    "scope": DEFAULT_SCOPE,
    "clock_offset": 0,
    "token_delay": 0,
    "metadata": True,
    "metadata_flavor_reply": True,
    "reject_all": False,
}


class OAuthError(Exception):
    def __init__(self, status, error, description):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def _b64url_decode(part, what):
    if "=" in part or "+" in part or "/" in part:
        raise OAuthError(400, "invalid_grant", "Invalid JWT: the %s is not unpadded base64url" % what)
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise OAuthError(400, "invalid_grant", "Invalid JWT: the %s is not base64url" % what)


def _json_part(part, what):
    try:
        value = json.loads(_b64url_decode(part, what))
    except ValueError:
        raise OAuthError(400, "invalid_grant", "Invalid JWT: the %s is not JSON" % what)
    if not isinstance(value, dict):
        raise OAuthError(400, "invalid_grant", "Invalid JWT: the %s is not a JSON object" % what)
    return value


class OAuth:
    """State of the emulation; every method is thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.config = dict(DEFAULT_CONFIG)
            self.service_accounts = {}
            self.users = {}
            self.tokens = {}
            self.records = []

    def now(self):
        with self.lock:
            return time.time() + self.config["clock_offset"]

    # -- control ------------------------------------------------------------

    def configure(self, doc):
        if not isinstance(doc, dict):
            raise ValueError("/_oauth body must be a JSON object")
        known = set(DEFAULT_CONFIG) | {"service_accounts", "authorized_users"}
        unknown = set(doc) - known
        if unknown:
            raise ValueError("unknown /_oauth keys %s; known: %s" % (sorted(unknown), sorted(known)))
        keys = {}
        for sa in doc.get("service_accounts", []):
            key = serialization.load_pem_public_key(sa["public_key_pem"].encode("ascii"))
            keys[sa["client_email"]] = key
        users = {}
        for user in doc.get("authorized_users", []):
            users[user["refresh_token"]] = (user["client_id"], user["client_secret"])
        with self.lock:
            self.service_accounts.update(keys)
            self.users.update(users)
            for name in DEFAULT_CONFIG:
                if name in doc:
                    self.config[name] = doc[name]
            return dict(self.config)

    def expire_all(self):
        with self.lock:
            for info in self.tokens.values():
                info["expires"] = 0
            return len(self.tokens)

    def log(self):
        with self.lock:
            return list(self.records)

    # -- bearer check (predict requests) -------------------------------------

    def token_source(self, authorization):
        """The grant that issued this bearer token if it is valid now, else None."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization[len("Bearer "):]
        now = self.now()
        with self.lock:
            if self.config["reject_all"]:
                return None
            info = self.tokens.get(token)
            if info is None or info["expires"] <= now:
                return None
            return info["source"]

    # -- HTTP ---------------------------------------------------------------

    def handle(self, handler, path):
        """Answer path if it is an OAuth / metadata route; returns True when handled."""
        method = handler.command
        if path == "/_oauth" and method == "POST":
            try:
                doc = json.loads(self._read(handler) or b"null")
                config = self.configure(doc)
            except (ValueError, KeyError, TypeError) as e:
                handler.send_json(400, {"error": "/_oauth: %s" % e})
                return True
            handler.send_json(200, {"ok": True, "config": config})
            return True
        if path == "/_oauth/expire" and method == "POST":
            self._read(handler)
            handler.send_json(200, {"ok": True, "expired": self.expire_all()})
            return True
        if path == "/_oauth/log" and method == "GET":
            handler.send_json(200, self.log())
            return True
        if path == TOKEN_PATH and method == "POST":
            self._token_endpoint(handler, path)
            return True
        if method == "GET" and (path == METADATA_TOKEN_PATH or
                                (path == METADATA_PING_PATH and handler.headers.get("Metadata-Flavor"))):
            with self.lock:
                enabled = self.config["metadata"]
            if enabled:
                self._metadata(handler, path)
                return True
        return False

    @staticmethod
    def _read(handler):
        length = int(handler.headers.get("Content-Length") or 0)
        if length > MAX_FORM_BYTES:
            raise OAuthError(400, "invalid_request", "request body too large")
        return handler.rfile.read(length) if length > 0 else b""

    def _record(self, record):
        with self.lock:
            record["seq"] = len(self.records) + 1
            self.records.append(record)

    def _issue(self, source):
        token = TOKEN_PREFIX + secrets.token_urlsafe(24)
        now = self.now()
        with self.lock:
            lifetime = self.config["lifetime"]
            self.tokens[token] = {"expires": now + lifetime, "source": source}
            delay = self.config["token_delay"]
        if delay:
            time.sleep(delay)
        return {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}

    def _token_endpoint(self, handler, path):
        record = {"path": path, "grant": None, "status": None, "error": None, "source": None}
        try:
            form = urllib.parse.parse_qs(self._read(handler).decode("ascii"), strict_parsing=True,
                                         keep_blank_values=True)
            fields = {name: values[0] for name, values in form.items() if len(values) == 1}
            if len(fields) != len(form):
                raise OAuthError(400, "invalid_request", "a form field is repeated")
            if handler.headers.get("Content-Type", "").split(";")[0].strip() != \
                    "application/x-www-form-urlencoded":
                raise OAuthError(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
            grant = record["grant"] = fields.get("grant_type")
            if grant == JWT_BEARER_GRANT:
                record["grant"] = "jwt-bearer"
                audience = self._expected_audience(handler, path)
                source = self._verify_assertion(fields.get("assertion", ""), audience)
            elif grant == "refresh_token":
                source = self._verify_refresh(fields)
            else:
                raise OAuthError(400, "unsupported_grant_type", "grant_type %r is not supported" % (grant,))
            record["source"] = source
            answer = self._issue(source)
            record["status"] = 200
            self._record(record)
            handler.send_json(200, answer)
        except (UnicodeDecodeError, ValueError) as e:
            record["status"], record["error"] = 400, "invalid_request"
            self._record(record)
            handler.send_json(400, {"error": "invalid_request", "error_description": "bad form: %s" % e})
        except OAuthError as e:
            record["status"], record["error"] = e.status, "%s: %s" % (e.error, e.description)
            self._record(record)
            handler.send_json(e.status, {"error": e.error, "error_description": e.description})

    def _expected_audience(self, handler, path):
        with self.lock:
            audience = self.config["audience"]
        return audience or "http://%s%s" % (handler.headers.get("Host", ""), path)

    def _verify_assertion(self, assertion, audience):
        parts = assertion.split(".")
        if len(parts) != 3 or not all(parts):
            raise OAuthError(400, "invalid_grant", "Invalid JWT: expected header.claims.signature")
        header = _json_part(parts[0], "header")
        claims = _json_part(parts[1], "claims")
        signature = _b64url_decode(parts[2], "signature")
        if header.get("alg") != "RS256" or header.get("typ", "JWT") != "JWT":
            raise OAuthError(400, "invalid_grant", "Invalid JWT: alg must be RS256 and typ JWT")
        iss = claims.get("iss")
        with self.lock:
            key = self.service_accounts.get(iss)
            expected_scope = self.config["scope"]
        if key is None:
            raise OAuthError(400, "invalid_grant", "Invalid JWT: unknown service account (iss %r)" % (iss,))
        try:
            key.verify(signature, (parts[0] + "." + parts[1]).encode("ascii"), padding.PKCS1v15(),
                       hashes.SHA256())
        except InvalidSignature:
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != audience:
            raise OAuthError(400, "invalid_grant", "Invalid JWT audience: expected %s, got %r"
                             % (audience, claims.get("aud")))
        scopes = claims.get("scope")
        if not isinstance(scopes, str) or expected_scope not in scopes.split(" "):
            raise OAuthError(400, "invalid_scope", "Invalid JWT: scope %r does not include %s"
                             % (scopes, expected_scope))
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int) or isinstance(iat, bool) or isinstance(exp, bool):
            raise OAuthError(400, "invalid_grant", "Invalid JWT: iat and exp must be integers")
        now = self.now()
        if iat > now + IAT_LEEWAY_S or exp <= now or exp - iat > MAX_ASSERTION_LIFETIME_S or exp <= iat:
            raise OAuthError(400, "invalid_grant",
                             "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                             "reasonable timeframe. Check your iat and exp values in the JWT claim.")
        return "service_account:%s" % iss

    def _verify_refresh(self, fields):
        refresh = fields.get("refresh_token")
        with self.lock:
            user = self.users.get(refresh)
        if user is None:
            raise OAuthError(400, "invalid_grant", "Token has been expired or revoked.")
        if (fields.get("client_id"), fields.get("client_secret")) != user:
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        return "authorized_user:%s" % user[0]

    def _metadata(self, handler, path):
        record = {"path": path, "grant": "metadata", "status": None, "error": None, "source": None}
        with self.lock:
            reply_flavor = self.config["metadata_flavor_reply"]
        headers = {"Metadata-Flavor": "Google"} if reply_flavor else {}
        if handler.headers.get("Metadata-Flavor") != "Google":
            record["status"], record["error"] = 403, "missing Metadata-Flavor: Google"
            self._record(record)
            handler.send_bytes(403, b"Missing Metadata-Flavor:Google header.", "text/plain", headers)
            return
        if path == METADATA_PING_PATH:
            record["grant"] = "metadata-ping"
            record["status"] = 200
            self._record(record)
            handler.send_bytes(200, b"computeMetadata/\n", "application/text", headers)
            return
        record["source"] = "metadata"
        answer = self._issue("metadata")
        record["status"] = 200
        self._record(record)
        handler.send_json(200, answer, headers=headers)
