"""The cluster configs the project ships: they parse, carry what the Ray cluster launcher, KubeRay
and Ray Serve require, keep secrets out, and name entrypoints and configs that exist.

Checked offline: the launcher configs against Ray's own schema (ray/autoscaler/ray-schema.json,
after Ray fills in its defaults), the KubeRay manifests against the fields the ray.io/v1 CRDs
need, the Serve config against Serve's schema when ray[serve] is installed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from recycle.config import load_config
from recycle.config.load import SECRET_KEY
from recycle.teacher.serve import llm_config_kwargs

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "cluster"
CONFIGS = REPO / "jobs" / "configs"
YAMLS = sorted([*CLUSTER.rglob("*.yaml"), *CONFIGS.glob("*.yaml")])
LAUNCHER = {"aws": CLUSTER / "aws.yaml", "gcp": CLUSTER / "gcp.yaml"}
KUBERAY = {"RayCluster": CLUSTER / "kuberay" / "raycluster.yaml", "RayJob": CLUSTER / "kuberay" / "rayjob.yaml"}  # fmt: skip
DOCS = [
    REPO / "README.md",
    CLUSTER / "README.md",
    *CLUSTER.rglob("*.yaml"),
    *CONFIGS.glob("*.yaml"),
]
# an OpenAI-style key or a bearer token pasted into a file
KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_-]{16,}|Bearer [A-Za-z0-9._-]{16,}")
KEY_NAME = "OPENAI_API_KEY"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("path", YAMLS, ids=rel)
def test_every_yaml_parses_to_a_mapping_without_secrets(path):
    docs = list(yaml.safe_load_all(path.read_text()))
    assert docs and all(isinstance(d, dict) for d in docs)
    assert not KEY_LIKE.search(path.read_text())


def test_the_expected_files_are_there():
    for path in [*LAUNCHER.values(), *KUBERAY.values(), CLUSTER / "runtime_env.yaml", CLUSTER / "serve_llm_teacher.yaml"]:  # fmt: skip
        assert path.is_file(), path
    for name in ("alpaca_llama2_7b", "alpaca_llama2_13b", "wizardlm_llama2_7b", "wizardlm_llama2_13b", "openai_teacher", "vllm_teacher_served", "small_local"):  # fmt: skip
        assert (CONFIGS / f"{name}.yaml").is_file(), name


# --- runtime env -------------------------------------------------------------------------------


def test_runtime_env_ships_the_code_not_the_clutter_and_no_secret():
    env = load(CLUSTER / "runtime_env.yaml")
    assert set(env) <= {"excludes", "pip", "env_vars"}  # working_dir comes from --working-dir
    assert {".git", ".venv", "runs"} <= set(env["excludes"])
    assert all(isinstance(v, str) for v in env["env_vars"].values())  # Ray wants strings
    for name in env["env_vars"]:
        assert not SECRET_KEY.search(name.lower()) and name != KEY_NAME


def test_runtime_env_installs_every_dependency_but_torch_and_ray():
    tomllib = pytest.importorskip("tomllib")
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = {re.split(r"[\[<>=!~ ]", d, maxsplit=1)[0] for d in deps} - {"torch", "ray"}
    packages = load(CLUSTER / "runtime_env.yaml")["pip"]["packages"]
    assert {re.split(r"[\[<>=!~ ]", p, maxsplit=1)[0] for p in packages} == wanted


# --- Ray cluster launcher --------------------------------------------------------------------


@pytest.mark.parametrize("cloud", sorted(LAUNCHER))
def test_launcher_config_passes_rays_schema(cloud):
    from ray.autoscaler._private.util import prepare_config, validate_config

    cfg = load(LAUNCHER[cloud])
    validate_config(cfg)
    validate_config(prepare_config(cfg))  # with Ray's defaults filled in, as `ray up` does
    assert cfg["cluster_name"] and cfg["provider"]["type"] == cloud
    assert cfg["docker"]["image"] and cfg["max_workers"] >= 1


@pytest.mark.parametrize("cloud", sorted(LAUNCHER))
def test_launcher_has_a_cpu_head_and_autoscaling_spot_gpu_workers(cloud):
    cfg = load(LAUNCHER[cloud])
    types = cfg["available_node_types"]
    head = types[cfg["head_node_type"]]
    assert not head.get("resources", {}).get("GPU")
    workers = {name: t for name, t in types.items() if name != cfg["head_node_type"]}
    gpu = [t for t in workers.values() if t["resources"].get("GPU", 0) > 0]
    assert gpu and all(t["min_workers"] == 0 < t["max_workers"] for t in gpu)
    for t in gpu:
        node = t["node_config"]
        if cloud == "aws":
            assert node["InstanceMarketOptions"]["MarketType"] == "spot"
        else:
            assert node["scheduling"]["provisioningModel"] == "SPOT"
            assert node["scheduling"]["onHostMaintenance"] == "TERMINATE"  # GPUs cannot migrate


@pytest.mark.parametrize("cloud", sorted(LAUNCHER))
def test_launcher_nodes_read_the_key_from_the_secret_manager_before_ray_start(cloud):
    cfg = load(LAUNCHER[cloud])
    reader = (
        "aws secretsmanager get-secret-value"
        if cloud == "aws"
        else "gcloud secrets versions access"
    )
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        start = next(c for c in cfg[key] if "ray start" in c)
        assert f'export {KEY_NAME}="$({reader}' in start
        assert start.index(KEY_NAME) < start.index("ray start")


# --- KubeRay -----------------------------------------------------------------------------------


def cluster_spec(kind: str) -> dict:
    doc = load(KUBERAY[kind])
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == kind
    assert doc["metadata"]["name"] and isinstance(doc["spec"], dict)
    return doc["spec"] if kind == "RayCluster" else doc["spec"]["rayClusterSpec"]


def containers(spec: dict) -> list[dict]:
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    return [c for g in groups for c in g["template"]["spec"]["containers"]]


@pytest.mark.parametrize("kind", sorted(KUBERAY))
def test_kuberay_cluster_has_a_head_and_an_autoscaling_gpu_worker_group(kind):
    spec = cluster_spec(kind)
    assert re.fullmatch(r"\d+\.\d+\.\d+", spec["rayVersion"]) and spec["enableInTreeAutoscaling"]
    assert "rayStartParams" in spec["headGroupSpec"]
    head = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert 8265 in {p["containerPort"] for p in head["ports"]}  # the job server
    assert "nvidia.com/gpu" not in head["resources"]["limits"]
    gpu_groups = [g for g in spec["workerGroupSpecs"] if any(c["resources"]["limits"].get("nvidia.com/gpu", 0) > 0 for c in g["template"]["spec"]["containers"])]  # fmt: skip
    assert gpu_groups
    for group in gpu_groups:
        assert group["groupName"] and "rayStartParams" in group
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        assert group["maxReplicas"] > group["minReplicas"]
    for c in containers(spec):
        assert c["name"] and c["image"]


@pytest.mark.parametrize("kind", sorted(KUBERAY))
def test_every_ray_container_gets_the_key_from_a_kubernetes_secret(kind):
    for c in containers(cluster_spec(kind)):
        env = {e["name"]: e for e in c.get("env", [])}
        ref = env[KEY_NAME]["valueFrom"]["secretKeyRef"]
        assert ref["name"] and ref["key"] and "value" not in env[KEY_NAME]
        for e in c.get("env", []):  # nothing secret-looking is given as a literal value
            assert "value" not in e or not SECRET_KEY.search(e["name"].lower())


def test_rayjob_runs_an_existing_entrypoint_with_the_projects_runtime_env():
    spec = load(KUBERAY["RayJob"])["spec"]
    words = spec["entrypoint"].split()
    assert words[0] == "python" and (REPO / words[1]).is_file()
    config, overrides = words[2], [w for w in words[3:] if "=" in w]
    assert load_config(REPO / config, overrides).output.dir.startswith(("s3://", "gs://"))
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    shipped = load(CLUSTER / "runtime_env.yaml")
    assert runtime_env["pip"] == shipped["pip"] and runtime_env["env_vars"] == shipped["env_vars"]
    assert re.match(r"(s3|gs|https)://.+\.zip$", runtime_env["working_dir"])  # a remote working dir
    assert KEY_NAME not in spec["runtimeEnvYAML"] and KEY_NAME not in spec["entrypoint"]
    assert spec["shutdownAfterJobFinishes"] is True and spec["backoffLimit"] >= 1


# --- Ray Serve LLM -----------------------------------------------------------------------------


def served_llm_config() -> dict:
    app = load(CLUSTER / "serve_llm_teacher.yaml")["applications"][0]
    assert app["import_path"] == "ray.serve.llm:build_openai_app" and app["route_prefix"] == "/"
    return app["args"]["llm_configs"][0]


def test_serve_config_describes_the_same_teacher_as_the_served_preset():
    llm = served_llm_config()
    teacher = load_config(CONFIGS / "vllm_teacher_served.yaml").teacher
    expected = llm_config_kwargs(teacher)
    assert llm["model_loading_config"] == expected["model_loading_config"]
    assert llm["engine_kwargs"] == expected["engine_kwargs"]
    # neither names a GPU type unless the user sets one (a named type must be on some node)
    assert llm.get("accelerator_type") == expected.get("accelerator_type") is None
    assert llm["deployment_config"] == expected["deployment_config"]
    assert (
        load(CLUSTER / "serve_llm_teacher.yaml")["http_options"]["port"] == teacher.serve.http_port
    )


def test_serve_config_passes_serves_schema():
    schema = pytest.importorskip("ray.serve.schema", reason="needs ray[serve] (the vllm extra)")
    schema.ServeDeploySchema.model_validate(load(CLUSTER / "serve_llm_teacher.yaml"))


# --- every path the docs name exists -------------------------------------------------------------


PATH_IN_TEXT = re.compile(r"(?<![\w/.-])((?:jobs|cluster|notebooks)/[\w./-]+\.(?:py|yaml|ipynb))\b")


@pytest.mark.parametrize("doc", DOCS, ids=rel)
def test_every_entrypoint_config_and_cluster_file_named_exists(doc):
    named = set(PATH_IN_TEXT.findall(doc.read_text()))
    missing = sorted(p for p in named if not (REPO / p).is_file())
    assert not missing, f"{rel(doc)} names files that do not exist: {missing}"
