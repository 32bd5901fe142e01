"""The Kubernetes manifests in deploy/k8s: valid against the Kubernetes API schemas and wired to
each other and to the real CLI and settings.

Schemas come from ``kubernetes-validate`` (it ships the JSON schemas of each Kubernetes release
in its wheel, so nothing downloads); strict mode refuses unknown fields, the usual typo.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from claude_code_api.cli import app as cli_app
from claude_code_api.config import Settings

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"  # oldest release still widely run; its schemas ship offline


def manifests() -> dict[str, dict[str, Any]]:
    """Every resource in deploy/k8s by ``Kind/name`` (kustomization.yaml is not a resource)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            found[f"{doc['kind']}/{doc['metadata']['name']}"] = {**doc, "_file": path.name}
    return found


RESOURCES = manifests()


def resource(key: str) -> dict[str, Any]:
    return RESOURCES[key]


def containers(key: str) -> list[dict[str, Any]]:
    spec = resource(key)["spec"]
    pod = spec["template"]["spec"]
    result: list[dict[str, Any]] = pod["containers"]
    return result


def without_file(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_file"}


@pytest.mark.parametrize("key", sorted(RESOURCES))
def test_manifest_is_valid_against_the_kubernetes_schema(key: str) -> None:
    kubernetes_validate.validate(without_file(resource(key)), KUBERNETES_VERSION, strict=True)


def test_the_schema_check_catches_a_typo() -> None:
    broken = without_file(resource("Deployment/ccapi-api"))
    broken["spec"] = {**broken["spec"], "replicaz": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_topology_is_the_compose_one() -> None:
    kinds = {key.split("/")[0] for key in RESOURCES}
    assert {"Deployment", "HorizontalPodAutoscaler", "Service", "ConfigMap", "Job"} <= kinds
    hpa = resource("HorizontalPodAutoscaler/ccapi-api")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "ccapi-api",
    }
    assert hpa["minReplicas"] >= 2 and hpa["maxReplicas"] > hpa["minReplicas"]
    # No Redis or PostgreSQL inside: they are external, named in the Secret.
    images = {c["image"] for key in RESOURCES if key.startswith(("Deployment", "Job"))
              for c in containers(key)}  # fmt: skip
    assert images == {"claude-code-api"}


def test_kustomization_lists_every_resource_but_the_example_secret() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    files = {doc["_file"] for doc in RESOURCES.values()}
    assert listed == files - {"secret.example.yaml"}
    assert all((K8S / name).exists() for name in listed)
    assert [i["name"] for i in kustomization["images"]] == ["claude-code-api"]


def test_commands_exist_in_the_cli() -> None:
    expected = {
        "Deployment/ccapi-api": ["claude-code-api", "serve", "--host", "0.0.0.0", "--port", "8080"],
        "Deployment/ccapi-worker": ["claude-code-api", "worker"],
        "Job/ccapi-migrate": ["claude-code-api", "db", "upgrade"],
    }
    for key, command in expected.items():
        (container,) = containers(key)
        assert container["command"] == command, key
        result = CliRunner().invoke(cli_app, [*command[1:], "--help"])
        assert result.exit_code == 0, f"{key}: {command} is not a claude-code-api command"


def test_environment_comes_from_the_configmap_and_secret_with_real_settings() -> None:
    known = {f"CCAPI_{name.upper()}" for name in Settings.model_fields}
    config = resource("ConfigMap/ccapi-config")["data"]
    secret = resource("Secret/ccapi-secrets")["stringData"]
    assert set(config) <= known and set(secret) - {"ANTHROPIC_API_KEY"} <= known
    assert {"CCAPI_ADMIN_KEY", "CCAPI_DATABASE_URL", "CCAPI_REDIS_URL"} <= set(secret)
    assert secret["CCAPI_DATABASE_URL"].startswith("postgresql://")
    assert secret["CCAPI_REDIS_URL"].startswith("redis://")
    assert all(isinstance(v, str) for v in config.values())  # ConfigMap values must be strings
    Settings(**{k.removeprefix("CCAPI_").lower(): v for k, v in {**config, **secret}.items()
                if k.startswith("CCAPI_")})  # fmt: skip
    for key in ("Deployment/ccapi-api", "Deployment/ccapi-worker", "Job/ccapi-migrate"):
        (container,) = containers(key)
        sources = {next(iter(s.values()))["name"] for s in container["envFrom"]}
        assert sources == {"ccapi-config", "ccapi-secrets"}, key
        assert "env" not in container, f"{key}: keep settings in the ConfigMap / Secret"


def test_api_is_probed_served_and_runs_as_the_image_user() -> None:
    (api,) = containers("Deployment/ccapi-api")
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    (port,) = api["ports"]
    assert port["containerPort"] == 8080
    assert api["readinessProbe"]["httpGet"]["port"] == port["name"]
    deployment = resource("Deployment/ccapi-api")["spec"]
    service = resource("Service/ccapi-api")["spec"]
    labels = deployment["template"]["metadata"]["labels"]
    assert deployment["selector"]["matchLabels"].items() <= labels.items()
    assert service["selector"].items() <= labels.items()
    assert service["ports"][0]["targetPort"] == port["name"]
    pdb = resource("PodDisruptionBudget/ccapi-api")["spec"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    worker_labels = resource("Deployment/ccapi-worker")["spec"]["template"]["metadata"]["labels"]
    assert not service["selector"].items() <= worker_labels.items(), "workers serve no HTTP"
    for key in ("Deployment/ccapi-api", "Deployment/ccapi-worker", "Job/ccapi-migrate"):
        pod = resource(key)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's ccapi user
        assert pod["securityContext"]["runAsNonRoot"] is True
        # Longer than CCAPI_SHUTDOWN_GRACE, so in-flight work finishes on a rollout.
        if key.startswith("Deployment"):
            grace = float(resource("ConfigMap/ccapi-config")["data"]["CCAPI_SHUTDOWN_GRACE"])
            assert pod["terminationGracePeriodSeconds"] > grace
