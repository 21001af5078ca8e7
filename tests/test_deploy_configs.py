"""The cluster configs under deploy/ (documentation, not run on a cloud here) are valid: the
``ray up`` launcher config against the JSON schema that the Ray wheel ships, the KubeRay
``RayJob`` against deploy/rayjob.schema.json (a schema of our own from KubeRay's documented
fields). Each check is shown to fail on a broken copy."""

import copy
import json
import re
import shlex
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
LAUNCHER = DEPLOY / "ray-cluster.yaml"
RAYJOB = DEPLOY / "rayjob.yaml"
RAY_SCHEMA = Path(ray.__file__).parent / "autoscaler" / "ray-schema.json"
NOT_RUN = "NOT RUN ON A CLOUD HERE"


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _launcher_errors(config: dict) -> list[str]:
    schema = json.loads(RAY_SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(config)]


def _rayjob_errors(manifest: dict) -> list[str]:
    schema = json.loads((DEPLOY / "rayjob.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(manifest)]


@pytest.mark.parametrize("path", [LAUNCHER, RAYJOB, DEPLOY / "Dockerfile"])
def test_each_config_says_it_was_not_run_on_a_cloud(path):
    head = path.read_text().splitlines()[:12]
    assert any(NOT_RUN in line and line.startswith("#") for line in head)


def test_launcher_config_matches_the_schema_ray_ships():
    assert RAY_SCHEMA.is_file()
    assert _launcher_errors(_yaml(LAUNCHER)) == []


def test_launcher_config_passes_rays_own_checks():
    """Ray's ``ray up`` fills in the provider's defaults and checks what the schema cannot
    (the head node type is one of the node types, worker counts)."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(_yaml(LAUNCHER)))


def _misspelled_top_level(c):
    c["max_worker"] = c.pop("max_workers")


def _node_type_without_resources(c):
    del c["available_node_types"]["cpu_worker"]["resources"]


def _setup_commands_not_a_list(c):
    c["setup_commands"] = 42


@pytest.mark.parametrize(
    "breaks", [_misspelled_top_level, _node_type_without_resources, _setup_commands_not_a_list]
)
def test_a_broken_launcher_config_fails_the_schema(breaks):
    config = copy.deepcopy(_yaml(LAUNCHER))
    breaks(config)
    assert _launcher_errors(config)


def test_rayjob_matches_the_documented_fields():
    assert _rayjob_errors(_yaml(RAYJOB)) == []


def test_the_rayjob_schema_cites_kuberays_documentation():
    comment = json.loads((DEPLOY / "rayjob.schema.json").read_text())["$comment"]
    assert "https://docs.ray.io/en/latest/cluster/kubernetes/" in comment


def _misspelled_spec_field(m):
    m["spec"]["shutdownAfterJobFinish"] = m["spec"].pop("shutdownAfterJobFinishes")


def _start_param_not_a_string(m):
    m["spec"]["rayClusterSpec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] = 0


def _no_entrypoint(m):
    del m["spec"]["entrypoint"]


def _worker_group_without_name(m):
    del m["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["groupName"]


def _container_without_image(m):
    pod = m["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    del pod["containers"][0]["image"]


def _wrong_kind(m):
    m["kind"] = "RayCluster"


@pytest.mark.parametrize(
    "breaks",
    [
        _misspelled_spec_field,
        _start_param_not_a_string,
        _no_entrypoint,
        _worker_group_without_name,
        _container_without_image,
        _wrong_kind,
    ],
)
def test_a_broken_rayjob_fails_the_schema(breaks):
    manifest = copy.deepcopy(_yaml(RAYJOB))
    breaks(manifest)
    assert _rayjob_errors(manifest)


def test_rayjob_entrypoint_is_an_hcf_sim_command_with_an_absolute_out():
    """The job's working directory is a temporary copy: results must go to an absolute
    path (the mounted volume); the topology is the repository's, installed in the image."""
    from hcf_ray.cli import build_parser

    manifest = _yaml(RAYJOB)
    argv = shlex.split(manifest["spec"]["entrypoint"])
    assert argv[0] == "hcf-sim"
    args = build_parser().parse_args(argv[1:])
    assert args.out.startswith("/mnt/results/")
    head = manifest["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    mounts = [m["mountPath"] for c in head["containers"] for m in c.get("volumeMounts", [])]
    assert "/mnt/results" in mounts
    in_image = Path(args.config).relative_to("/home/ray/hcf-sim")
    assert (ROOT / in_image).is_file()


def test_ray_versions_agree():
    """The RayJob's rayVersion is the Ray of the image it runs, and the launcher's images are
    of that Ray too."""
    version = _yaml(RAYJOB)["spec"]["rayClusterSpec"]["rayVersion"]
    (base,) = re.findall(r"^FROM rayproject/ray:(\S+)", (DEPLOY / "Dockerfile").read_text(), re.M)
    docker = _yaml(LAUNCHER)["docker"]
    images = [docker["image"], docker["worker_image"]]
    images += [
        t["docker"]["worker_image"]
        for t in _yaml(LAUNCHER)["available_node_types"].values()
        if "docker" in t
    ]
    for tag in [base] + [i.partition(":")[2] for i in images]:
        assert tag.split("-")[0] == version
