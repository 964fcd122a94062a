"""The deployment side: the container image, the compose and Kubernetes
manifests, the systemd unit and the production example config.

- Static checks (always): deploy/config/gateway.toml and the ConfigMap's
  gateway.toml validate; the Dockerfile keeps its promises (multi-stage,
  non-root, healthcheck, entrypoint); the systemd unit is hardened.
- YAML checks (when PyYAML is importable; skipped otherwise, it is not a
  dependency): compose.yaml has PostgreSQL, the migration one-shot, the sink
  and two read-only replicas; the Kubernetes objects have the replicas,
  probes, security context, PodDisruptionBudget and migration Job.
- The image (slow; only when a Docker engine answers): `docker build`, then a
  sink and the gateway in containers on the host network (loopback ports
  only), read-only root file system: /healthz answers, one message relays,
  SIGTERM stops it with exit code 0.

Environment:
  GATEWAY_TEST_DOCKER_IMAGE  use this image instead of building one
  GATEWAY_TEST_DOCKER_BASE   build with --build-arg PYTHON_IMAGE=... (a local
                             stand-in for python:3.11-slim where Docker Hub
                             cannot be reached)
"""

from __future__ import annotations

import base64
import configparser
import contextlib
import os
import shutil
import smtplib
import socket
import subprocess
import time
import urllib.request
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from gateway.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"


# --------------------------------------------------------------------------
# static checks


def test_production_example_config_validates() -> None:
    settings = load_settings(DEPLOY / "config" / "gateway.toml", environ={})
    assert settings.server.listen == "0.0.0.0:2525"
    assert settings.metrics.listen == "0.0.0.0:9025"
    assert settings.database.url.startswith("sqlite+aiosqlite:////var/lib/gateway/")
    # No open relay in the example.
    assert "0.0.0.0/0" not in settings.server.trusted_networks


def test_production_example_config_takes_postgres_from_env() -> None:
    url = "postgresql+asyncpg://gateway:secret@db:5432/gateway"
    settings = load_settings(
        DEPLOY / "config" / "gateway.toml",
        environ={
            "GATEWAY_DATABASE_URL": url,
            "GATEWAY_SERVER_TRUSTED_NETWORKS": '["172.29.0.0/24", "127.0.0.0/8"]',
            "GATEWAY_UPSTREAM_PORT": "2526",
        },
    )
    assert settings.database.url == url
    assert settings.server.trusted_networks == ["172.29.0.0/24", "127.0.0.0/8"]
    assert settings.upstream.port == 2526


def test_dockerfile_promises() -> None:
    text = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines()]
    assert sum(line.startswith("FROM ") for line in lines) >= 2, "multi-stage build"
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in lines
    assert any(line.startswith("USER ") and not line.startswith("USER root") for line in lines)
    assert any(line.startswith("HEALTHCHECK ") for line in lines)
    assert "PYTHONDONTWRITEBYTECODE=1" in text
    assert 'ENTRYPOINT ["gateway"]' in lines
    assert 'CMD ["serve", "--config", "/etc/gateway/gateway.toml"]' in lines
    for copied in ("deploy/config/gateway.toml", "deploy/docker/healthcheck.py"):
        assert (ROOT / copied).is_file()
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    for needed in ("!pyproject.toml", "!README.md", "!gateway/", "!deploy/config/", "!deploy/docker/"):
        assert needed in ignore


def test_systemd_unit_is_hardened() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / "gateway.service")
    service = parser["Service"]
    assert service["ExecStart"].endswith("gateway serve --config /etc/gateway/gateway.toml")
    assert service["ProtectSystem"] == "strict"
    assert service["NoNewPrivileges"] == "yes"
    assert service["StateDirectory"] == "gateway"
    assert service.get("DynamicUser") == "yes" or service.get("User")
    assert service["KillSignal"] == "SIGTERM"
    assert parser["Install"]["WantedBy"] == "multi-user.target"
    assert (DEPLOY / "systemd" / "gateway.env.example").is_file()


# --------------------------------------------------------------------------
# YAML (PyYAML is not a dependency: skipped when absent)


def _yaml_documents(path: Path) -> list[dict[str, Any]]:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed; YAML checks skipped")
    with path.open() as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def _k8s_objects() -> dict[str, list[dict[str, Any]]]:
    objects: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in _yaml_documents(path):
            assert "kind" in doc, f"{path.name}: a document without kind"
            objects.setdefault(doc["kind"], []).append(doc)
    return objects


def test_compose_file() -> None:
    (compose,) = _yaml_documents(DEPLOY / "compose.yaml")
    services = compose["services"]
    assert {"postgres", "migrate", "sink", "gateway-1", "gateway-2"} <= set(services)
    assert services["migrate"]["command"][:2] == ["db", "upgrade"]
    assert services["sink"]["entrypoint"][-1] == "gateway.devsink"
    assert services["sink"]["command"] == ["0.0.0.0:2526"]
    hostnames, workers = set(), set()
    for name in ("gateway-1", "gateway-2"):
        service = services[name]
        assert service["read_only"] is True
        assert any(str(t).startswith("/tmp") for t in service["tmpfs"])
        env = service["environment"]
        assert env["GATEWAY_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["GATEWAY_UPSTREAM_HOST"] == "sink"
        hostnames.add(env["GATEWAY_SERVER_HOSTNAME"])
        workers.add(env["GATEWAY_QUEUE_WORKER_ID"])
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        for port in service["ports"]:
            assert str(port).startswith("127.0.0.1:"), "published on loopback only"
    assert len(hostnames) == 2, "each replica needs its own server.hostname"
    assert len(workers) == 2, "each replica needs its own, stable queue.worker_id"


def test_kubernetes_manifests() -> None:
    objects = _k8s_objects()
    for kind in ("Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget", "Job"):
        assert kind in objects, f"no {kind} in deploy/kubernetes"

    (deployment,) = objects["Deployment"]
    spec = deployment["spec"]
    assert spec["replicas"] >= 2
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert volumes[mounts["/etc/gateway"]]["configMap"]["name"] == "gateway-config"
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()

    (pdb,) = objects["PodDisruptionBudget"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for service in objects["Service"]:
        assert service["spec"]["selector"].items() <= labels.items()

    (job,) = objects["Job"]
    job_pod = job["spec"]["template"]["spec"]
    assert job_pod["containers"][0]["args"][:2] == ["db", "upgrade"]
    assert job_pod["securityContext"]["runAsNonRoot"] is True

    for secret in objects["Secret"]:
        for value in secret.get("stringData", {}).values():
            assert "CHANGE-ME" in value, "the example Secret must hold placeholders only"


def test_kubernetes_configmap_config_validates(tmp_path: Path) -> None:
    (configmap,) = [
        c for c in _k8s_objects()["ConfigMap"] if c["metadata"]["name"] == "gateway-config"
    ]
    for name, body in configmap["data"].items():
        (tmp_path / name).write_text(body)
    settings = load_settings(tmp_path / "gateway.toml", environ={}, check_files=False)
    assert settings.database.url.startswith("postgresql+asyncpg://")
    assert (tmp_path / settings.policy.recipients_file).is_file()


# --------------------------------------------------------------------------
# the image (needs a Docker engine)


def _docker_problem() -> str | None:
    if shutil.which("docker") is None:
        return "docker is not installed"
    try:
        done = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True, text=True, timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker info failed: {exc}"
    if done.returncode != 0 or not done.stdout.strip():
        return "no Docker engine answers (docker info: " + (done.stderr.strip()[:200] or "?") + ")"
    return None


def _docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _build_image() -> str:
    prebuilt = os.environ.get("GATEWAY_TEST_DOCKER_IMAGE")
    if prebuilt:
        return prebuilt
    base = os.environ.get("GATEWAY_TEST_DOCKER_BASE", "python:3.11-slim")
    if _docker("image", "inspect", base, check=False).returncode != 0:
        pulled = _docker("pull", base, timeout=300, check=False)
        if pulled.returncode != 0:
            pytest.skip(f"base image {base} is not available ({pulled.stderr.strip()[:200]}); "
                        "set GATEWAY_TEST_DOCKER_BASE to a local stand-in")
    tag = "secure-sharing-gateway:test"
    env = dict(os.environ)
    buildx = subprocess.run(["docker", "buildx", "version"], capture_output=True, timeout=20)
    if buildx.returncode != 0:
        env["DOCKER_BUILDKIT"] = "0"  # the classic builder when the buildx plugin is missing
    done = subprocess.run(
        ["docker", "build", "--build-arg", f"PYTHON_IMAGE={base}", "-t", tag, str(ROOT)],
        capture_output=True, text=True, timeout=900, env=env,
    )
    assert done.returncode == 0, f"docker build failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return tag


def _wait_http(url: str, deadline: float) -> str:
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(response.read().decode())
        except Exception as exc:
            last = exc
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer: {last}")


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_image_builds_serves_health_and_relays() -> None:
    problem = _docker_problem()
    if problem:
        pytest.skip(f"container test skipped: {problem}")
    image = _build_image()
    size = int(_docker("image", "inspect", image, "--format", "{{.Size}}").stdout.strip())
    print(f"image {image}: {size / 1e6:.0f} MB")

    run_id = uuid.uuid4().hex[:8]
    sink_name, gw_name, volume = f"gw-sink-{run_id}", f"gw-{run_id}", f"gw-state-{run_id}"
    smtp_port, metrics_port, sink_port = _free_port(), _free_port(), _free_port()
    hardened = ["--network", "host", "--read-only", "--tmpfs", "/tmp",
                "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
    try:
        _docker("volume", "create", volume)
        _docker("run", "-d", "--name", sink_name, *hardened, "--entrypoint", "python",
                image, "-m", "gateway.devsink", f"127.0.0.1:{sink_port}")
        migrate = _docker("run", "--rm", *hardened, "-v", f"{volume}:/var/lib/gateway",
                          image, "db", "upgrade", "--config", "/etc/gateway/gateway.toml")
        assert "up to date" in migrate.stdout
        _docker(
            "run", "-d", "--name", gw_name, *hardened, "-v", f"{volume}:/var/lib/gateway",
            "-e", f"GATEWAY_SERVER_LISTEN=127.0.0.1:{smtp_port}",
            "-e", f"GATEWAY_METRICS_LISTEN=127.0.0.1:{metrics_port}",
            "-e", "GATEWAY_UPSTREAM_HOST=127.0.0.1",
            "-e", f"GATEWAY_UPSTREAM_PORT={sink_port}",
            "-e", "GATEWAY_UPSTREAM_TLS=none",
            # Without a password key /readyz answers 503 ("passwords: no key").
            "-e", f"GATEWAY_PASSWORD_KEY={base64.b64encode(os.urandom(32)).decode()}",
            "-e", "GATEWAY_POLICY_MODE=monitor",  # this test is about the container, not the policy
            image,
        )
        deadline = time.monotonic() + 60
        assert _wait_http(f"http://127.0.0.1:{metrics_port}/healthz", deadline).strip() == "ok"
        ready = _wait_http(f"http://127.0.0.1:{metrics_port}/readyz", deadline)
        assert "database: ok" in ready and "upstream: ok" in ready
        # The HEALTHCHECK command itself, as Docker runs it.
        inspect = _docker("inspect", "--format", "{{json .Config.Healthcheck.Test}}", gw_name)
        assert "healthcheck" in inspect.stdout
        assert _docker("exec", gw_name, "python3", "/usr/local/lib/gateway-healthcheck.py",
                       check=False).returncode == 0

        message = EmailMessage()
        message["From"] = "alice@council.example.gov.uk"
        message["To"] = "duty.team@childrens.example.gov.uk"
        message["Subject"] = "Private and Confidential: container test"
        message.set_content("The agenda is attached.")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            client.send_message(message)

        line = "alice@council.example.gov.uk -> duty.team@childrens.example.gov.uk"
        while time.monotonic() < deadline + 30:
            logs = _docker("logs", sink_name)
            if line in logs.stdout:
                break
            time.sleep(0.5)
        else:
            gw_logs = _docker("logs", gw_name, check=False)
            raise AssertionError(f"the sink never received the message:\n{gw_logs.stdout[-3000:]}"
                                 f"{gw_logs.stderr[-3000:]}")

        _docker("stop", "--time", "30", gw_name, timeout=60)
        state = _docker("inspect", "--format", "{{.State.ExitCode}}", gw_name).stdout.strip()
        assert state == "0", "SIGTERM must stop the gateway cleanly"
    finally:
        for name in (gw_name, sink_name):
            with contextlib.suppress(Exception):
                _docker("rm", "-f", "-v", name, check=False)
        with contextlib.suppress(Exception):
            _docker("volume", "rm", "-f", volume, check=False)
