"""The shipping files agree with each other and with the Rust code.

Names come from the code where the code has them (Cargo manifests, clap `env`
attributes, string constants), so a rename in one place fails here instead
of in production. A name the code does not define yet fails loudly: the
contract below is what the Rust crates are being written to.
"""

from __future__ import annotations

import base64
import re

import pytest
import yaml

import sources as src

# The Pub/Sub contract (DESIGN.md, issue 5).
JOBS_TOPIC = "jobs"
DEAD_LETTER_TOPIC = "jobs-dead-letter"
WORKER_SUBSCRIPTION = "jobs-worker"
PULL_SUBSCRIPTION = "jobs-worker-pull"
DEAD_LETTER_SUBSCRIPTION = "jobs-dead-letter-worker"
PUSH_PATH = "/pubsub/push"
DEAD_LETTER_PATH = "/pubsub/dead-letter"

# The roles the one image provides (each the name of a binary its crate
# defines, and a link to the multi-call binary in the image), and which of
# them run where.
IMAGE_ROLES = {"api", "worker", "migrate", "pubsub-emulator"}
CLOUD_RUN_SERVICES = {"jobs-api": "api", "jobs-worker": "worker"}
CLOUD_RUN_JOBS = {"jobs-migrate": "migrate"}

# Settings that come from Secret Manager: env name -> (the Terraform secret
# holding it, the Cloud Run services and jobs that read it). Nowhere but in
# local runs may one be a plain value.
SECRET_SETTINGS = {
    "DATABASE_URL": (
        "google_secret_manager_secret.database_url",
        set(CLOUD_RUN_SERVICES) | set(CLOUD_RUN_JOBS),
    ),
    # Seals tenant job types' HMAC secrets (issue 10): the api seals, the worker opens.
    "JOB_TYPE_SECRETS_KEY": (
        "google_secret_manager_secret.job_type_secrets_key",
        set(CLOUD_RUN_SERVICES),
    ),
}

# Crates whose code runs in production; the emulator only mentions these
# names in its own examples and tests, which prove nothing about the service.
SERVICE_CRATES = ["domain", "runtime", "job_types", "api", "worker"]


# --- helpers that read Terraform's view of the services ------------------


def terraform_services() -> dict[str, dict]:
    """Cloud Run service name -> {binary, env names} from the root module."""
    local_values = src.terraform_locals("terraform")
    out = {}
    for module in src.terraform_blocks("module", "terraform").values():
        if module.get("source") != "./modules/cloud_run_service":
            continue
        out[module["name"]] = {
            "binary": module["command"][0],
            "args": module.get("args", []),
            "env": src.expression_env_names(module.get("env", {}), local_values)
            | src.expression_env_names(module.get("secret_env", {}), local_values),
            "plain_env": module.get("env"),
            "plain_env_names": src.expression_env_names(module.get("env", {}), local_values),
            "secret_env_names": src.expression_env_names(module.get("secret_env", {}), local_values),
        }
    return out


def terraform_jobs() -> dict[str, dict]:
    """Cloud Run job name -> {binary, env names}."""
    out = {}
    for body in src.terraform_resources("google_cloud_run_v2_job", "terraform").values():
        container = body["template"][0]["template"][0]["containers"][0]
        env = {e["name"] for e in container.get("env", [])}
        secret_env = {e["name"] for e in container.get("env", []) if "value_source" in e}
        if "for_each" in body:
            for name, each in body["for_each"].items():
                out[name] = {"binary": each["command"][0], "env": env, "secret_env_names": secret_env}
        else:
            out[body["name"]] = {
                "binary": container["command"][0],
                "env": env,
                "secret_env_names": secret_env,
            }
    return out


def unread(binary: str, names: set[str]) -> list[str]:
    return sorted(names - src.env_read_by_binary(binary) - src.PLATFORM_ENV)


# --- the image ---------------------------------------------------------------


def test_the_crates_define_exactly_the_binaries_the_image_needs():
    defined = set(src.workspace_binaries())
    assert defined == IMAGE_ROLES | {src.MULTI_CALL_BINARY}, (
        f"Cargo manifests define binaries {sorted(defined)}; the image ships "
        f"{src.MULTI_CALL_BINARY!r}, which takes the roles {sorted(IMAGE_ROLES)} that "
        f"compose and Cloud Run run (a crate without [[bin]] name=... builds one "
        f"named after its package)"
    )


def test_the_multi_call_binary_takes_every_role_the_crates_define():
    """`jobs` dispatches on the name it is called as; a role the crates
    build as a binary but `jobs` does not know would start nothing."""
    assert src.multi_call_roles() == set(src.role_binaries())


def test_the_docker_build_context_admits_every_workspace_crate():
    # .dockerignore excludes everything not listed; a crate left out breaks `docker build`.
    admitted = {
        line[1:].strip().rstrip("/")
        for line in (src.ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    missing = set(src.workspace_members()) - admitted
    assert not missing, f".dockerignore keeps out workspace crates: {sorted(missing)}"


def test_dockerfile_builds_only_the_multi_call_binary():
    assert src.dockerfile_built_binaries() == {src.MULTI_CALL_BINARY}
    assert src.dockerfile_cooked_binaries() == {src.MULTI_CALL_BINARY}, (
        "the cargo-chef layer must build the dependencies of the binary the build builds"
    )
    assert src.dockerfile_copied_binaries() == src.dockerfile_built_binaries()


def test_dockerfile_links_every_role_to_the_multi_call_binary():
    links = src.dockerfile_links()
    assert set(links) == set(src.role_binaries())
    assert set(links.values()) == {src.MULTI_CALL_BINARY}, "relative links, next to the binary"


def test_the_runtime_image_puts_the_binary_and_its_links_on_the_path():
    copies = [rest.split() for keyword, rest in src.dockerfile_runtime() if keyword == "COPY"]
    assert ["--from=builder", "/out/bin/", "/usr/local/bin/"] in copies


def test_the_runtime_image_has_libgcc_s_when_its_base_does_not():
    """The binary needs libgcc_s.so.1 (unwinding) beside glibc; distroless
    base-nossl has glibc only, so the builder's copy must go in (the cc
    variant has its own)."""
    runtime = src.dockerfile_runtime()
    base = runtime[0][1].split()[0]
    copies = [rest.split() for keyword, rest in runtime if keyword == "COPY"]
    if not base.startswith("gcr.io/distroless/cc-"):
        assert ["--from=builder", "/out/lib/", "/lib/"] in copies, base


def test_the_release_profile_lives_in_cargo_toml_and_keeps_unwinding():
    """The worker catches a handler's panic and fails only that job, which
    needs unwinding; and one place decides how the release binary is built."""
    profile = src.workspace_manifest()["profile"]["release"]
    assert profile.get("panic", "unwind") == "unwind"
    envs = " ".join(rest for keyword, rest in src.dockerfile_instructions() if keyword in ("ENV", "ARG", "RUN"))
    assert "CARGO_PROFILE_" not in envs


def test_dockerfile_release_build_is_locked_and_offline():
    runs = [rest for keyword, rest in src.dockerfile_instructions() if keyword == "RUN"]
    assert any("cargo build" in r and "--release" in r and "--locked" in r for r in runs)
    assert any("cargo chef cook" in r and "--release" in r for r in runs), "dependency layer"
    envs = " ".join(rest for keyword, rest in src.dockerfile_instructions() if keyword == "ENV")
    assert "SQLX_OFFLINE=true" in envs


def test_runtime_image_is_non_root_and_defaults_to_the_api():
    runtime = src.dockerfile_runtime()
    users = [rest for k, rest in runtime if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert [rest for k, rest in runtime if k == "CMD"][-1] == '["api"]'


def test_every_role_compose_and_cloud_run_start_is_a_binary_of_the_image():
    started = {src.compose_binary(s) for s in src.compose_our_services().values()}
    started |= {d["command"][0] for d in src.cloudbuild_deploys().values() if d["command"]}
    started |= {s["binary"] for s in terraform_services().values()}
    started |= {j["binary"] for j in terraform_jobs().values()}
    assert started <= set(src.dockerfile_links())


# --- environment variables ------------------------------------------------------


@pytest.mark.parametrize("service", sorted(src.compose_our_services()))
def test_compose_sets_only_env_its_binary_reads(service):
    svc = src.compose_our_services()[service]
    binary = src.compose_binary(svc)
    assert unread(binary, set(src.compose_env(svc))) == [], (
        f"compose service {service} ({binary}) sets env the code does not read"
    )


@pytest.mark.parametrize("name", sorted(src.cloudbuild_deploys()))
def test_cloud_build_sets_only_env_the_deployed_binary_reads(name):
    deploy = src.cloudbuild_deploys()[name]
    binary = (CLOUD_RUN_SERVICES | CLOUD_RUN_JOBS)[name]
    names = set(deploy["env"]) | set(deploy["secrets"])
    assert unread(binary, names) == []


@pytest.mark.parametrize("name", sorted(CLOUD_RUN_SERVICES))
def test_terraform_sets_only_env_the_service_binary_reads(name):
    service = terraform_services()[name]
    assert unread(service["binary"], service["env"]) == []


def test_terraform_sets_only_env_the_worker_reads_on_the_pull_worker_pool():
    pool = src.terraform_resource("google_cloud_run_v2_worker_pool.pull", "terraform")
    container = src.single(src.single(pool["template"], "template")["containers"], "containers")
    assert container["command"] == ["worker"]
    local_values = src.terraform_locals("terraform")
    names = set()
    for block in container["dynamic"]:
        names |= src.expression_env_names(block["env"]["for_each"], local_values)
    assert {"WORKER_MODE", "PUBSUB_PULL_SUBSCRIPTION", "PULL_CONCURRENCY", "DATABASE_URL"} <= names
    assert unread("worker", names) == []


@pytest.mark.parametrize("name", sorted(CLOUD_RUN_JOBS))
def test_terraform_sets_only_env_the_job_binary_reads(name):
    job = terraform_jobs()[name]
    assert unread(job["binary"], job["env"]) == []


@pytest.mark.parametrize("name", sorted(CLOUD_RUN_SERVICES | CLOUD_RUN_JOBS))
def test_cloud_build_sets_no_env_that_terraform_does_not_also_set(name):
    """Both configure the same revision; a setting only Cloud Build knows
    would be lost on the next `terraform apply`, and one that differs flips
    back and forth."""
    deploy = src.cloudbuild_deploys()[name]
    terraform = (terraform_services() | terraform_jobs())[name]
    extra = (set(deploy["env"]) | set(deploy["secrets"])) - terraform["env"]
    assert extra == set()


def test_cloud_build_and_terraform_give_the_same_literal_settings():
    common = src.terraform_locals("terraform")["common_env"]
    for name in CLOUD_RUN_SERVICES:
        env = src.cloudbuild_deploys()[name]["env"]
        assert env["LOG_FORMAT"] == common["LOG_FORMAT"] == "json"
        assert env["JOBS_TOPIC"] == JOBS_TOPIC


def test_push_token_checks_are_configured_whole_or_not_at_all():
    """The worker refuses to start with only one of the two (and an audience
    alone would accept tokens of any account): production sets both, the
    local stack, whose emulator sends no tokens, neither."""
    pair = {"PUSH_AUDIENCE", "PUSH_SERVICE_ACCOUNT"}
    assert pair <= src.env_read_by_binary("worker")
    assert pair <= terraform_services()["jobs-worker"]["env"]
    assert pair <= set(src.cloudbuild_deploys()["jobs-worker"]["env"])
    for name, svc in src.compose_our_services().items():
        assert not pair & set(src.compose_env(svc)), name


def test_the_jobs_topic_setting_names_the_jobs_topic_everywhere():
    for name, svc in src.compose_our_services().items():
        env = src.compose_env(svc)
        if "JOBS_TOPIC" in env:
            assert env["JOBS_TOPIC"] == JOBS_TOPIC, name
    assert src.terraform_locals("terraform")["common_env"]["JOBS_TOPIC"] == "${module.pubsub.jobs_topic}"


def test_the_code_defaults_jobs_topic_to_the_jobs_topic():
    assert src.env_default(SERVICE_CRATES, "JOBS_TOPIC") == JOBS_TOPIC, (
        'expected a clap argument with env = "JOBS_TOPIC" and default_value = "jobs" '
        "in domain/, runtime/, job_types/, api/ or worker/"
    )


# --- names: services, jobs, secrets, images ---------------------------------------


def test_cloud_build_deploys_the_services_and_job_terraform_creates():
    deploys = src.cloudbuild_deploys()
    assert {n for n, d in deploys.items() if d["kind"] == "service"} == set(CLOUD_RUN_SERVICES)
    assert {n for n, d in deploys.items() if d["kind"] == "job"} == set(CLOUD_RUN_JOBS)
    assert set(terraform_services()) == set(CLOUD_RUN_SERVICES)
    assert set(CLOUD_RUN_JOBS) <= set(terraform_jobs())


@pytest.mark.parametrize("name", sorted(CLOUD_RUN_SERVICES | CLOUD_RUN_JOBS))
def test_cloud_build_and_terraform_run_the_same_binary(name):
    deploy = src.cloudbuild_deploys()[name]
    terraform = (terraform_services() | terraform_jobs())[name]
    assert deploy["command"] == [terraform["binary"]]
    assert terraform["binary"] == (CLOUD_RUN_SERVICES | CLOUD_RUN_JOBS)[name]
    if name in CLOUD_RUN_SERVICES:
        assert deploy["args"] == [",".join(terraform["args"])] if terraform["args"] else not deploy["args"]


@pytest.mark.parametrize("setting", sorted(SECRET_SETTINGS))
def test_cloud_build_reads_the_secret_terraform_creates_where_it_is_read(setting):
    address, readers = SECRET_SETTINGS[setting]
    secret = src.terraform_resource(address, "terraform")
    for name, deploy in src.cloudbuild_deploys().items():
        if name not in readers:
            assert setting not in deploy["secrets"], name
            continue
        assert setting in deploy["secrets"], f"{name} gets no {setting}"
        reference = src.cloudbuild_substitute(deploy["secrets"][setting])
        assert reference == f"{secret['secret_id']}:latest", name


@pytest.mark.parametrize("setting", sorted(SECRET_SETTINGS))
def test_terraform_gives_the_secret_from_secret_manager_where_it_is_read(setting):
    _address, readers = SECRET_SETTINGS[setting]
    deployed = terraform_services() | terraform_jobs()
    for name in readers:
        assert setting in deployed[name]["secret_env_names"], f"{name} does not read {setting} from Secret Manager"
    for name, service in terraform_services().items():
        assert setting not in service["plain_env_names"], name


def test_the_api_and_the_worker_read_the_job_type_secrets_key():
    """Both need it: the api seals a new HMAC type's secret, the worker opens
    it to sign. Fails until the Rust settings define
    `#[arg(env = "JOB_TYPE_SECRETS_KEY")]` (runtime/src/settings/)."""
    for binary in ("api", "worker"):
        assert "JOB_TYPE_SECRETS_KEY" in src.env_read_by_binary(binary), binary


def local_job_type_secrets_keys() -> dict[str, str]:
    """Where the local stacks set JOB_TYPE_SECRETS_KEY: compose service or
    scripts/dev -> the value."""
    keys = {
        f"compose {name}": src.compose_env(svc)["JOB_TYPE_SECRETS_KEY"]
        for name, svc in src.compose_our_services().items()
        if "JOB_TYPE_SECRETS_KEY" in src.compose_env(svc)
    }
    dev = re.findall(r"^export JOB_TYPE_SECRETS_KEY=(\S+)$", (src.ROOT / "scripts/dev").read_text(), re.M)
    if dev:
        keys["scripts/dev"] = dev[-1]
    return keys


def test_local_runs_give_the_api_and_the_worker_one_valid_local_job_type_secrets_key():
    """A key that is not base64 of 32 bytes stops start-up; a different key
    per process would make the worker unable to open what the api sealed."""
    keys = local_job_type_secrets_keys()
    services = src.compose_our_services()
    for name, svc in services.items():
        if src.compose_binary(svc) in ("api", "worker"):
            assert f"compose {name}" in keys, name
    assert "scripts/dev" in keys
    assert len(set(keys.values())) == 1, keys
    key = next(iter(keys.values()))
    assert len(base64.b64decode(key, validate=True)) == 32


def test_production_never_uses_the_local_job_type_secrets_key():
    """The local key is in the repository, so anyone could open secrets
    sealed with it."""
    texts = [(src.ROOT / "cloudbuild.yaml").read_text()]
    texts += [path.read_text() for path in (src.ROOT / "terraform").rglob("*.tf")]
    for key in set(local_job_type_secrets_keys().values()):
        assert not any(key in text for text in texts)


def test_cloud_build_pushes_to_the_registry_terraform_creates():
    env = dict(item.split("=", 1) for item in src.cloudbuild()["options"]["env"])
    image = src.cloudbuild_substitute(env["IMAGE"])
    repository = src.terraform_variable_default("repository_id", "terraform")
    region = src.cloudbuild()["substitutions"]["_REGION"]
    assert image == f"{region}-docker.pkg.dev/$PROJECT_ID/{repository}/jobs:$COMMIT_SHA"
    assert region == src.terraform_variable_default("region", "terraform")


def test_cloud_build_push_settings_match_the_terraform_push_identity():
    env = src.cloudbuild_deploys()["jobs-worker"]["env"]
    account = src.terraform_resource("google_service_account.push", "terraform")["account_id"]
    assert env["PUSH_SERVICE_ACCOUNT"] == f"{account}@$PROJECT_ID.iam.gserviceaccount.com"
    audience = src.cloudbuild_substitute(env["PUSH_AUDIENCE"])
    terraform_url = src.terraform_locals("terraform")["worker_url"]
    assert audience == "https://jobs-worker-$PROJECT_NUMBER.{}.run.app".format(
        src.cloudbuild()["substitutions"]["_REGION"]
    )
    assert terraform_url == "https://jobs-worker-${local.project_number}.${var.region}.run.app"


# --- Pub/Sub names and push paths --------------------------------------------------


@pytest.mark.parametrize(
    "name", [DEAD_LETTER_TOPIC, WORKER_SUBSCRIPTION, DEAD_LETTER_SUBSCRIPTION]
)
def test_the_service_code_names_the_pubsub_resource(name):
    assert name in src.rust_string_literals(SERVICE_CRATES), (
        f'no "{name}" string constant in domain/, runtime/, job_types/, api/ or worker/ sources'
    )


@pytest.mark.parametrize("path", [PUSH_PATH, DEAD_LETTER_PATH, "/healthz", "/readyz"])
def test_the_worker_code_names_the_path_pubsub_and_cloud_run_call(path):
    crates = src.crates_of_binary("worker")
    assert path in src.rust_string_literals(crates), f'no "{path}" in {crates} sources'


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_the_api_code_names_the_probe_path_cloud_run_calls(path):
    crates = src.crates_of_binary("api")
    assert path in src.rust_string_literals(crates), f'no "{path}" in {crates} sources'


def test_terraform_and_the_local_emulator_create_the_same_topics():
    topics = {
        body["name"]
        for body in src.terraform_resources("google_pubsub_topic", "terraform/modules/pubsub").values()
    }
    assert topics == {JOBS_TOPIC, DEAD_LETTER_TOPIC}
    assert set(src.emulator_setup()["topics"]) == topics


def test_terraform_and_the_local_emulator_create_the_same_subscriptions():
    module = "terraform/modules/pubsub"
    subs = {
        body["name"]: body
        for body in src.terraform_resources("google_pubsub_subscription", module).values()
    }
    # The pull subscription replaces jobs-worker only behind a variable
    # (default off); locally the compose worker is pushed to.
    assert subs.pop(PULL_SUBSCRIPTION)["count"] == "${var.pull_subscription ? 1 : 0}"
    assert set(subs) == {WORKER_SUBSCRIPTION, DEAD_LETTER_SUBSCRIPTION}
    assert {s["name"] for s in src.emulator_setup()["subscriptions"]} == set(subs)

    worker = subs[WORKER_SUBSCRIPTION]
    local = src.emulator_subscription(WORKER_SUBSCRIPTION)
    assert worker["topic"] == "${google_pubsub_topic.jobs.id}" and local["topic"] == JOBS_TOPIC
    assert worker["push_config"][0]["push_endpoint"] == "${var.worker_url}" + PUSH_PATH
    assert local["push_endpoint"].endswith(PUSH_PATH)
    ack = src.terraform_variable_default("ack_deadline_seconds", module)
    assert worker["ack_deadline_seconds"] == "${var.ack_deadline_seconds}"
    assert local["ack_deadline_seconds"] == ack == 600
    retry = worker["retry_policy"][0]
    assert (retry["minimum_backoff"], retry["maximum_backoff"]) == ("10s", "600s")
    assert (local["min_backoff"], local["max_backoff"]) == ("10s", "600s")
    dlq = worker["dead_letter_policy"][0]
    assert dlq["dead_letter_topic"] == "${google_pubsub_topic.dead_letter.id}"
    assert local["dead_letter_topic"] == DEAD_LETTER_TOPIC
    attempts = src.terraform_variable_default("max_delivery_attempts", module)
    assert local["max_delivery_attempts"] == attempts == 5

    dead = subs[DEAD_LETTER_SUBSCRIPTION]
    local_dead = src.emulator_subscription(DEAD_LETTER_SUBSCRIPTION)
    assert dead["topic"] == "${google_pubsub_topic.dead_letter.id}"
    assert local_dead["topic"] == DEAD_LETTER_TOPIC
    assert dead["push_config"][0]["push_endpoint"] == "${var.worker_url}" + DEAD_LETTER_PATH
    assert local_dead["push_endpoint"].endswith(DEAD_LETTER_PATH)


def test_local_pushes_go_to_the_compose_worker_on_its_port():
    services = src.compose_our_services()
    worker = [n for n, s in services.items() if src.compose_binary(s) == "worker"]
    assert len(worker) == 1
    port = src.compose_env(services[worker[0]]).get("PORT", "8080")
    for sub in src.emulator_setup()["subscriptions"]:
        assert sub["push_endpoint"].startswith(f"http://{worker[0]}:{port}/"), sub["name"]


def test_compose_mounts_the_emulator_setup_the_emulator_is_told_to_read():
    services = src.compose_our_services()
    emulator = [s for s in services.values() if src.compose_binary(s) == "pubsub-emulator"]
    assert len(emulator) == 1
    command = emulator[0]["command"]
    config_path = command[command.index("--config") + 1]
    mounts = [v.split(":") for v in emulator[0].get("volumes", [])]
    assert ["./shipping/emulator.toml", config_path, "ro"] in mounts
    host = command[command.index("--host") + 1]
    port = command[command.index("--port") + 1]
    assert host == "0.0.0.0"
    for svc in services.values():
        env = src.compose_env(svc)
        if "PUBSUB_EMULATOR_HOST" in env:
            assert env["PUBSUB_EMULATOR_HOST"] == f"pubsub:{port}"


# --- start order and rollout order ---------------------------------------------------


@pytest.mark.parametrize("binary", ["api", "worker"])
def test_compose_starts_servers_after_a_healthy_database_and_finished_migrations(binary):
    services = src.compose_our_services()
    migrate = [n for n, s in services.items() if src.compose_binary(s) == "migrate"]
    assert len(migrate) == 1
    for name, svc in services.items():
        if src.compose_binary(svc) != binary:
            continue
        depends = svc["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends[migrate[0]]["condition"] == "service_completed_successfully", name
    assert "healthcheck" in src.compose_services()["postgres"]


def test_cloud_build_migrates_after_tests_and_build_and_before_any_deploy():
    migrate = src.cloudbuild_deploys()["jobs-migrate"]["step"]
    assert set(src.cloudbuild_step(migrate)["waitFor"]) == {"test", "build"}
    for name in CLOUD_RUN_SERVICES:
        step = src.cloudbuild_step(src.cloudbuild_deploys()[name]["step"])
        assert step["waitFor"] == [migrate], name


def test_cloud_build_tags_images_with_the_commit():
    env = dict(item.split("=", 1) for item in src.cloudbuild()["options"]["env"])
    assert env["IMAGE"] == "${_REGION}-docker.pkg.dev/$PROJECT_ID/${_REPOSITORY}/jobs:$COMMIT_SHA"


def test_cloud_build_holds_no_secret_values():
    text = (src.ROOT / "cloudbuild.yaml").read_text()
    for deploy in src.cloudbuild_deploys().values():
        for setting in SECRET_SETTINGS:
            assert setting not in deploy["env"], f"{setting} must come from Secret Manager"
    assert "postgres://" not in text.replace("postgres://postgres@jobs-test-postgres", "")
    assert "password" not in text.lower()


def test_every_skipped_checkov_check_is_explained():
    """.checkov.yaml is the one list of skipped checks; each needs a reason."""
    lines = (src.ROOT / ".checkov.yaml").read_text().splitlines()
    config = yaml.safe_load("\n".join(lines))
    skips = config["skip-check"]
    assert skips, "no skips is fine, but then drop the key"
    for check in skips:
        index = next(i for i, line in enumerate(lines) if line.strip() == f"- {check}")
        above = index - 1
        while lines[above].strip().startswith("- "):  # checks sharing one reason
            above -= 1
        assert lines[above].strip().startswith("#") and len(lines[above].strip()) > 10, check
    # And no inline suppressions hide elsewhere.
    for path in ["Dockerfile", *map(str, (src.ROOT / "terraform").rglob("*.tf"))]:
        assert "checkov:skip" not in (src.ROOT / path).read_text(), path
