"""Container HEALTHCHECK: GET /healthz on the gateway's [metrics] listen.

The slim image has no curl; this uses the standard library only.  The address
comes from GATEWAY_HEALTHCHECK_URL, else from GATEWAY_METRICS_LISTEN (a
wildcard host is replaced by loopback), else http://127.0.0.1:9025/healthz.
Exit 0 when the answer is 200, 1 otherwise.
"""

import os
import sys
import urllib.request


def url() -> str:
    explicit = os.environ.get("GATEWAY_HEALTHCHECK_URL")
    if explicit:
        return explicit
    listen = os.environ.get("GATEWAY_METRICS_LISTEN", "").strip().strip('"')
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit():
        host, port = "127.0.0.1", "9025"
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/healthz"


def main() -> int:
    try:
        with urllib.request.urlopen(url(), timeout=4) as response:
            return 0 if response.status == 200 else 1
    except Exception as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
