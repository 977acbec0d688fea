"""The Kubernetes manifests (deploy/k8s/): valid against the Kubernetes schemas (strict:
an unknown field fails), complete (the kustomization lists every file), and consistent
with the service (every TFJOBS_* they set is a real setting; probes on /readyz and
/healthz; GPU workers ask for a GPU; the migration Job runs a command that exists)."""

from __future__ import annotations

import copy
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from app.core.config import Settings

K8S = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
VERSIONS = ["1.29.0", "1.33.0"]


def documents() -> list[tuple[str, dict]]:
    return [
        (path.name, doc)
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def by_kind(kind: str) -> list[dict]:
    return [doc for _, doc in documents() if doc["kind"] == kind]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid_kubernetes(version):
    for name, doc in documents():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{name}: {err}")


def test_the_validator_refuses_a_misspelled_field():
    deployment = copy.deepcopy(by_kind("Deployment")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[0], strict=True)


def test_the_kustomization_lists_every_manifest():
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def test_the_settings_they_set_exist_and_storage_is_a_bucket():
    fields = {f"TFJOBS_{name.upper()}" for name in Settings.model_fields}
    config = by_kind("ConfigMap")[0]["data"]
    secret = by_kind("Secret")[0]["stringData"]
    for key in [*config, *secret]:
        assert not key.startswith("TFJOBS_") or key in fields, f"{key} is not a tfjobs setting"
    assert config["TFJOBS_STORAGE_URL"].startswith("s3://")  # nodes share no disk
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "TFJOBS_DATABASE_URL"} <= set(secret)


def test_probes_gpu_limits_and_commands():
    deployments = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0] for d in by_kind("Deployment")
    }
    api = deployments["tfjobs-api"]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert deployments["tfjobs-worker-gpu"]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "nvidia.com/gpu" not in deployments["tfjobs-worker"]["resources"]["limits"]
    for worker in ("tfjobs-worker", "tfjobs-worker-gpu"):
        assert deployments[worker]["command"][:2] == ["tfjobs", "worker"]
    (job,) = by_kind("Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["tfjobs", "migrate"]
    from app.cli import app as server_commands

    assert "migrate" in {c.name or c.callback.__name__ for c in server_commands.registered_commands}


def test_workers_can_form_gangs_a_two_replica_gpu_job():
    """Each worker advertises its pod IP and a collective port; the headless Service
    selects every worker pod; two GPU workers give a `replicas: 2` job its two ranks."""
    deployments = {d["metadata"]["name"]: d for d in by_kind("Deployment")}
    (service,) = [s for s in by_kind("Service") if s["metadata"]["name"] == "tfjobs-workers"]
    assert service["spec"]["clusterIP"] == "None"
    for name in ("tfjobs-worker", "tfjobs-worker-gpu"):
        template = deployments[name]["spec"]["template"]
        assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
        container = template["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert env["TFJOBS_WORKER_ADDRESS"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
        port = int(env["TFJOBS_COLLECTIVE_PORT"]["value"])
        assert {"name": "collective", "containerPort": port} in container["ports"]
        assert service["spec"]["ports"][0]["port"] == port
    assert "TFJOBS_WORKER_ADDRESS" in {f"TFJOBS_{n.upper()}" for n in Settings.model_fields}
    # the documented example: a 2-replica GPU job validates against the API's own spec
    from tfcore.spec import JobSpec

    example = yaml.safe_load((K8S.parents[1] / "examples" / "two_replicas_gpu.yaml").read_text())
    spec = JobSpec.model_validate(example)
    assert spec.replicas == 2 and spec.device == "gpu"
    assert deployments["tfjobs-worker-gpu"]["spec"]["replicas"] >= 1  # scale to 2: docs/deployment.md
