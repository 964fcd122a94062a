# Secure-sharing gateway: container image.
#
#   docker build -t gateway:dev .
#   docker run --rm --read-only --tmpfs /tmp -v gateway-state:/var/lib/gateway \
#       -p 127.0.0.1:2525:2525 -p 127.0.0.1:9025:9025 \
#       -e GATEWAY_UPSTREAM_HOST=smarthost.example.org gateway:dev
#
# Runs as an unprivileged user (uid 10001) and writes only to
# /var/lib/gateway (a volume: the SQLite database when PostgreSQL is not used)
# and /tmp (mount a tmpfs or emptyDir there when the root file system is
# read-only).  The configuration is /etc/gateway/gateway.toml (the example
# from deploy/config/; mount your own over /etc/gateway) and every key can be
# overridden from the environment as GATEWAY_<SECTION>_<KEY>; the password
# key comes from GATEWAY_PASSWORD_KEY or a mounted file named by
# GATEWAY_PASSWORDS_KEY_FILE.  See docs/operations.md.

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: a virtual environment with the gateway and its dependencies ----
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/gateway
WORKDIR /src
# Dependencies first (a layer that changes only with pyproject.toml) ...
COPY pyproject.toml README.md ./
RUN python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt \
 && /opt/gateway/bin/pip install --upgrade pip setuptools wheel \
 && /opt/gateway/bin/pip install -r /tmp/requirements.txt
# ... then the gateway itself (not editable).  pip byte-compiles what it
# installs, here, because the running container cannot write __pycache__.
COPY gateway ./gateway
RUN /opt/gateway/bin/pip install --no-deps . \
 && /opt/gateway/bin/pip uninstall -y pip setuptools wheel \
 && /opt/gateway/bin/gateway --help > /dev/null

# --- runtime -------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="secure-sharing-gateway" \
      org.opencontainers.image.description="Outbound SMTP relay enforcing the UK secure-sharing rules for personal data" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --system --gid 10001 gateway \
 && useradd --system --uid 10001 --gid gateway --home-dir /var/lib/gateway \
        --no-create-home --shell /usr/sbin/nologin gateway \
 && install -d -o gateway -g gateway -m 0750 /var/lib/gateway \
 && install -d -m 0755 /etc/gateway

COPY --from=builder /opt/gateway /opt/gateway
COPY deploy/config/gateway.toml deploy/config/recipients.csv /etc/gateway/
COPY deploy/docker/healthcheck.py /usr/local/lib/gateway-healthcheck.py

ENV PATH=/opt/gateway/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp \
    HOME=/var/lib/gateway \
    GATEWAY_CONFIG=/etc/gateway/gateway.toml

USER 10001:10001
WORKDIR /var/lib/gateway
VOLUME ["/var/lib/gateway"]
# 2525 SMTP (map 25 or 587 to it outside), 9025 /healthz /readyz /metrics
EXPOSE 2525 9025
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python3", "/usr/local/lib/gateway-healthcheck.py"]

ENTRYPOINT ["gateway"]
CMD ["serve", "--config", "/etc/gateway/gateway.toml"]
