"""``deploy/helm/values.yaml`` against the official Dagster Helm chart's own ``values.schema.json``
(vendored in ``deploy/helm/dagster-chart/``, Apache-2.0, see its NOTICE), and against the one-machine
instance (``deploy/dagster.postgres.yaml``) it mirrors.

The chart's schema points Kubernetes objects (probes, resources, env sources, …) at
kubernetesjsonschema.dev, which is not vendored and not reachable here: those references resolve to
"anything" in this test (Kubernetes itself validates them at install); everything the chart defines
itself — required keys, enums, run launcher and run coordinator blocks, no unknown keys where the chart
forbids them — is checked."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "deploy" / "helm" / "dagster-chart" / "values.schema.json"
VALUES = REPO / "deploy" / "helm" / "values.yaml"
INSTANCE = REPO / "deploy" / "dagster.postgres.yaml"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA.read_text())
    documents: dict[str, dict[str, Any]] = {}
    for ref in _refs(schema):
        if ref.startswith("#"):
            continue
        url, _, pointer = ref.partition("#")
        node = documents.setdefault(url, {})
        for part in [p for p in pointer.split("/") if p]:
            node = node.setdefault(part, {})  # an empty schema: anything goes

    def retrieve(uri: str) -> Resource:
        if uri not in documents:
            raise LookupError(uri)
        return Resource.from_contents(documents[uri], default_specification=DRAFT7)

    return jsonschema.Draft7Validator(schema, registry=Registry(retrieve=retrieve))


def errors(values: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(values)]


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return dict(yaml.safe_load(VALUES.read_text()))


def test_the_vendored_schema_is_the_charts_with_its_licence_note() -> None:
    schema = json.loads(SCHEMA.read_text())
    assert schema["title"] == "DagsterHelmValues" and len(schema["definitions"]) == 83
    notice = (SCHEMA.parent / "NOTICE.md").read_text()
    assert "Apache License" in notice and "dagster-io/dagster" in notice and "values.schema.json" in notice


def test_the_values_validate_against_the_charts_schema(values: dict[str, Any]) -> None:
    assert errors(values) == []


def test_the_schema_catches_what_a_typo_would_break(values: dict[str, Any]) -> None:
    broken = copy.deepcopy(values)
    broken["runLauncher"]["type"] = "K8SRunLauncher"  # not a launcher the chart knows
    del broken["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"][1]["key"]
    broken["dagsterWebserver"]["replicas"] = 2  # the chart forbids unknown webserver keys
    found = errors(broken)
    assert len(found) == 3, found
    limit = copy.deepcopy(values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"])
    assert not validator().evolve(schema={"$ref": "#/definitions/QueuedRunCoordinatorConfig",
                                          "definitions": validator().schema["definitions"]}).is_valid(
        {**limit, "tagConcurrencyLimits": [{"limit": 1}]})  # a tag limit without its key
    assert any(e.startswith("runLauncher/type") for e in found), found
    assert any(e.startswith("dagsterDaemon/runCoordinator/config/queuedRunCoordinator:") for e in found), found
    assert any(e.startswith("dagsterWebserver:") and "replicas" in e for e in found), found


def test_the_cluster_runs_under_the_same_limits_as_one_machine(values: dict[str, Any]) -> None:
    instance = yaml.safe_load(INSTANCE.read_text())
    daemon = values["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    runs = instance["concurrency"]["runs"]
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert queued["maxConcurrentRuns"] == runs["max_concurrent_runs"]
    assert queued["tagConcurrencyLimits"] == runs["tag_concurrency_limits"]
    assert queued["dequeueIntervalSeconds"] == instance["run_coordinator"]["config"]["dequeue_interval_seconds"]
    assert values["additionalInstanceConfig"]["concurrency"]["pools"] == instance["concurrency"]["pools"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert daemon["runMonitoring"]["enabled"] and daemon["runRetries"]["enabled"]
    assert daemon["runRetries"]["maxRetries"] == instance["run_retries"]["max_retries"]
    assert daemon["runRetries"]["retryOnAssetOrOpFailure"] == instance["run_retries"]["retry_on_asset_or_op_failure"]
    assert daemon["runMonitoring"]["maxRuntimeSeconds"] == instance["run_monitoring"]["max_runtime_seconds"]
    [code] = values["dagster-user-deployments"]["deployments"]
    assert code["dagsterApiGrpcArgs"] == ["-m", "pos_dagster.definitions"]
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
