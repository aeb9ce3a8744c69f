"""Who may use edge-camera's and edge-serve's HTTP ports: a bearer token, a browser session cookie, TLS.

- `--token-file FILE` (one token, no spaces): every route but the health checks then needs
  "Authorization: Bearer TOKEN", or the session cookie a browser gets from /login (edge-camera's
  page). The cookie holds an HMAC of the token, not the token: HttpOnly, SameSite=Strict, Path=/,
  and Secure under TLS. Binding beyond loopback without a token is warned about.
- `--tls-cert FILE --tls-key FILE` (PEM; both or neither): HTTPS with the standard library's ssl,
  TLS 1.2 or later. The handshake happens in the server's non-blocking lane (edge.net.http_server),
  under the same deadline as a request head, so a client stalling it holds no worker.
Unreadable files, an empty token, a key that does not match its certificate: one line, exit code 2.
"""

import hashlib
import hmac
import ipaddress
import os

from edge.errors import EdgeError

COOKIE = "edge_session"
SESSION_CONTEXT = b"edge-toolkit browser session v1"


def add_access_arguments(group, what):
    """--token-file, --tls-cert and --tls-key on an argparse group (default None: unset); `what`: the open routes."""
    group.add_argument("--token-file",
                       help="file holding a bearer token: every route but {} then needs 'Authorization: Bearer TOKEN' "
                            "(or, in a browser, the cookie /login sets)".format(what))
    group.add_argument("--tls-cert", help="PEM certificate (chain) to serve HTTPS with; needs --tls-key")
    group.add_argument("--tls-key", help="PEM private key of --tls-cert (unencrypted; chmod 600)")


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False   # a host name: it may resolve beyond this machine


def read_token(path, log=None):
    """The bearer token in `path` (None without one); a usage error for an unreadable or empty file."""
    if path is None:
        return None
    try:
        with open(path) as handle:
            token = handle.read().strip()
    except (IOError, OSError, UnicodeDecodeError) as exc:
        raise EdgeError("cannot read --token-file {} ({})".format(path, exc))
    if not token or any(character.isspace() for character in token):
        raise EdgeError("--token-file {} must hold one token, without spaces".format(path))
    if os.stat(path).st_mode & 0o004 and log is not None:
        log("warning: {} is readable by every user of this machine (chmod 600 {})".format(path, path))
    return token


def _no_password():
    raise EdgeError("the --tls-key is encrypted: give an unencrypted key (chmod 600)")


def tls_context(cert, key):
    """A server ssl.SSLContext for --tls-cert and --tls-key, or None without them; one EdgeError line when unusable."""
    if (cert is None) != (key is None):
        raise EdgeError("--tls-cert and --tls-key go together: give both, or neither")
    if cert is None:
        return None
    import ssl

    for flag, path in (("--tls-cert", cert), ("--tls-key", key)):
        try:
            with open(path, "rb"):
                pass
        except (IOError, OSError) as exc:
            raise EdgeError("cannot read {} {} ({})".format(flag, path, exc.strerror or exc))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if hasattr(context, "minimum_version"):   # Python 3.7+
        context.minimum_version = ssl.TLSVersion.TLSv1_2  # novermin
    else:                                      # Python 3.6 (JetPack 4.6)
        context.options |= ssl.OP_NO_TLSv1 | ssl.OP_NO_TLSv1_1
    try:
        context.load_cert_chain(cert, key, password=_no_password)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise EdgeError("cannot serve TLS with --tls-cert {} and --tls-key {} ({}): give a PEM certificate and "
                        "its own unencrypted private key".format(cert, key, getattr(exc, "reason", None) or exc))
    return context


class Access(object):
    """A port's rules: its token (None: open), its TLS context (None: plain HTTP)."""

    def __init__(self, token=None, tls=None, realm="edge"):
        self.token, self.tls, self.realm = token, tls, realm
        self.session = None
        if token is not None:
            self.session = hmac.new(token.encode("utf-8"), SESSION_CONTEXT, hashlib.sha256).hexdigest()

    @property
    def scheme(self):
        return "https" if self.tls is not None else "http"

    def allows(self, headers):
        """True when the request's headers carry the bearer token or the session cookie (always, without a token)."""
        if self.token is None:
            return True
        scheme, _, credentials = headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and _same(credentials.strip(), self.token):
            return True
        return _same(_cookie(headers.get("Cookie", "")), self.session)

    def challenge(self):
        return (("WWW-Authenticate", 'Bearer realm="{}"'.format(self.realm)),)

    def login(self, given):
        """The Set-Cookie value for a browser that gave the right token, else None."""
        if self.token is None or not _same(given or "", self.token):
            return None
        return self._cookie(self.session, "")

    def logout(self):
        return self._cookie("", "; Max-Age=0")

    def _cookie(self, value, extra):
        return "{}={}; Path=/; HttpOnly; SameSite=Strict{}{}".format(COOKIE, value, "; Secure" if self.tls else "",
                                                                      extra)


def _same(given, wanted):
    return hmac.compare_digest(given.encode("utf-8"), wanted.encode("utf-8"))


def _cookie(header):
    """The session cookie's value in a Cookie header ("" when it has none)."""
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value.strip().strip('"')
    return ""


def open_warning(host, token, uses):
    """The warning for a port bound beyond loopback without a token, or None."""
    if token is not None or is_loopback(host):
        return None
    return "warning: serving on {} beyond this machine without a token: whoever reaches it can {} " \
           "(--token-file FILE)".format(host, uses)
