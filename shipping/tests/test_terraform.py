"""Properties of the Terraform configuration that must hold in production,
checked on the parsed HCL (no provider or cloud access needed)."""

from __future__ import annotations

import re

import pytest

import sources as src

ROOT_MODULE = "terraform"
PUBSUB = "terraform/modules/pubsub"
CLOUD_RUN = "terraform/modules/cloud_run_service"
PUBSUB_AGENT = "serviceAccount:service-${var.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}


def subscription(name: str) -> dict:
    subs = src.terraform_resources("google_pubsub_subscription", PUBSUB)
    matches = [body for body in subs.values() if body["name"] == name]
    assert len(matches) == 1, f"one subscription named {name}"
    return matches[0]


def module(name: str) -> dict:
    modules = src.terraform_blocks("module", ROOT_MODULE)
    assert name in modules, f"no module {name}"
    return modules[name]


def sql_instance() -> dict:
    instances = src.terraform_resources("google_sql_database_instance", ROOT_MODULE)
    assert len(instances) == 1
    return next(iter(instances.values()))


def variable_default(name: str, directory: str = ROOT_MODULE):
    return src.terraform_variable_default(name, directory)


def secret_env_reference(module_name: str, setting: str) -> str | None:
    """What a service module's secret_env gives `setting`: an object's value,
    or the expression after `SETTING =` inside a merge()."""
    secret_env = module(module_name)["secret_env"]
    if isinstance(secret_env, dict):
        return secret_env.get(setting)
    found = re.search(rf"\b{setting}\s*=\s*([A-Za-z_][A-Za-z0-9_.]*)", str(secret_env))
    return "${" + found.group(1) + "}" if found else None


# --- Pub/Sub -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, path", [("jobs-worker", "/pubsub/push"), ("jobs-dead-letter-worker", "/pubsub/dead-letter")]
)
def test_push_subscription_sends_an_oidc_token_for_the_worker(name, path):
    push = src.single(subscription(name)["push_config"], "push_config")
    assert push["push_endpoint"] == "${var.worker_url}" + path
    token = src.single(push["oidc_token"], "oidc_token")
    assert token["service_account_email"] == "${var.push_service_account_email}"
    assert token["audience"] == "${var.worker_url}"
    # ...and the root module passes the push account and the worker URL.
    pubsub = module("pubsub")
    assert pubsub["push_service_account_email"] == "${google_service_account.push.email}"
    assert pubsub["worker_url"] == "${local.worker_url}"


def test_the_worker_checks_the_same_audience_and_signer_pubsub_uses():
    env = module("worker")["env"]
    assert "PUSH_AUDIENCE = local.worker_url" in env
    assert "PUSH_SERVICE_ACCOUNT = google_service_account.push.email" in env


def test_worker_subscription_dead_letters_to_jobs_dead_letter_after_five_attempts():
    policy = src.single(subscription("jobs-worker")["dead_letter_policy"], "dead_letter_policy")
    assert policy["dead_letter_topic"] == "${google_pubsub_topic.dead_letter.id}"
    dead_letter = src.terraform_resource("google_pubsub_topic.dead_letter", PUBSUB)
    assert dead_letter["name"] == "jobs-dead-letter"
    assert policy["max_delivery_attempts"] == "${var.max_delivery_attempts}"
    assert variable_default("max_delivery_attempts", PUBSUB) == 5


def test_worker_subscription_retries_with_backoff_from_10s_to_600s():
    retry = src.single(subscription("jobs-worker")["retry_policy"], "retry_policy")
    assert (retry["minimum_backoff"], retry["maximum_backoff"]) == ("10s", "600s")


def test_ack_deadline_outlasts_the_longest_job_and_the_worker_request_timeout_matches():
    assert subscription("jobs-worker")["ack_deadline_seconds"] == "${var.ack_deadline_seconds}"
    ack = variable_default("ack_deadline_seconds", PUBSUB)
    longest_job = int(src.terraform_locals(ROOT_MODULE)["common_env"]["JOB_MAX_TIMEOUT_SECONDS"])
    assert ack == 600 > longest_job
    assert module("worker")["timeout_seconds"] == ack


def test_pubsub_service_agent_may_publish_dead_letters_and_ack_the_source():
    assert src.terraform_locals(PUBSUB)["pubsub_service_agent"] == PUBSUB_AGENT
    publisher = src.terraform_resource("google_pubsub_topic_iam_member.dead_letter_publisher", PUBSUB)
    assert publisher["topic"] == "${google_pubsub_topic.dead_letter.name}"
    assert publisher["role"] == "roles/pubsub.publisher"
    assert publisher["member"] == "${local.pubsub_service_agent}"
    subscriber = src.terraform_resource(
        "google_pubsub_subscription_iam_member.dead_letter_source_subscriber", PUBSUB
    )
    # The source is whichever subscription feeds the workers, push or pull.
    assert subscriber["subscription"] == "${local.jobs_subscription}"
    jobs_subscription = src.terraform_locals(PUBSUB)["jobs_subscription"]
    for source in ("worker_pull[0].name", "worker[0].name"):
        assert f"google_pubsub_subscription.{source}" in jobs_subscription
    assert subscriber["role"] == "roles/pubsub.subscriber"
    assert subscriber["member"] == "${local.pubsub_service_agent}"


def test_exactly_one_of_the_push_and_the_pull_subscription_feeds_the_workers():
    push = subscription("jobs-worker")
    pull = subscription("jobs-worker-pull")
    assert push["count"] == "${var.pull_subscription ? 0 : 1}"
    assert pull["count"] == "${var.pull_subscription ? 1 : 0}"
    assert variable_default("pull_subscription", PUBSUB) is False
    assert "push_config" not in pull
    assert pull["topic"] == push["topic"]
    # A nack means what a non-2xx push means: the same backoff and dead-letters.
    assert pull["retry_policy"] == push["retry_policy"]
    assert pull["dead_letter_policy"] == push["dead_letter_policy"]
    grant = src.terraform_resource("google_pubsub_subscription_iam_member.pull_subscribers", PUBSUB)
    assert grant["subscription"] == "${google_pubsub_subscription.worker_pull[0].name}"
    assert grant["role"] == "roles/pubsub.subscriber"
    assert set(module("pubsub")["pull_subscriber_members"]) == {"worker"}
    assert module("pubsub")["pull_subscription"] == "${var.pull_worker_enabled}"


def test_the_pull_worker_pool_is_off_by_default_and_runs_the_worker_in_pull_mode():
    assert variable_default("pull_worker_enabled") is False
    pool = src.terraform_resource("google_cloud_run_v2_worker_pool.pull", ROOT_MODULE)
    assert pool["count"] == "${var.pull_worker_enabled ? 1 : 0}"
    container = src.single(src.single(pool["template"], "template")["containers"], "containers")
    assert container["command"] == ["worker"]
    env = str(container["dynamic"])
    assert 'WORKER_MODE' in env and '"pull"' in env
    assert "module.pubsub.worker_subscription" in env


def test_pubsub_service_agent_may_mint_tokens_only_for_the_push_account():
    grant = src.terraform_resource("google_service_account_iam_member.push_token_creator", PUBSUB)
    assert grant["role"] == "roles/iam.serviceAccountTokenCreator"
    assert grant["member"] == "${local.pubsub_service_agent}"
    assert "${var.push_service_account_email}" in grant["service_account_id"]


def test_api_and_worker_may_publish_to_the_jobs_topic_only():
    grant = src.terraform_resource("google_pubsub_topic_iam_member.jobs_publishers", PUBSUB)
    assert grant["topic"] == "${google_pubsub_topic.jobs.name}"
    assert grant["role"] == "roles/pubsub.publisher"
    assert set(module("pubsub")["publisher_members"]) == {"api", "worker"}


# --- Cloud Run ----------------------------------------------------------------


def invoker_grants() -> dict[str, dict]:
    return src.terraform_resources("google_cloud_run_v2_service_iam_member", ROOT_MODULE)


def test_worker_is_not_public():
    for address, grant in invoker_grants().items():
        if grant["name"] == "${module.worker.name}":
            assert grant["member"] not in PUBLIC_MEMBERS, address
    for rtype in ("google_cloud_run_v2_service_iam_binding", "google_cloud_run_v2_service_iam_policy"):
        assert not src.terraform_resources(rtype), f"{rtype} could replace the worker's invokers"


def test_only_the_push_account_may_invoke_the_worker():
    grants = [g for g in invoker_grants().values() if g["name"] == "${module.worker.name}"]
    assert [(g["role"], g["member"]) for g in grants] == [
        ("roles/run.invoker", "${google_service_account.push.member}")
    ]


def test_api_is_public():
    grants = [g for g in invoker_grants().values() if g["name"] == "${module.api.name}"]
    assert ("roles/run.invoker", "allUsers") in [(g["role"], g["member"]) for g in grants]


def test_worker_keeps_an_instance_with_cpu_always_allocated_for_the_reconciler():
    worker = module("worker")
    assert worker["min_instances"] == "${var.worker_min_instances}"
    assert variable_default("worker_min_instances") >= 1
    assert worker["cpu_always_allocated"] is True
    service = src.terraform_resource("google_cloud_run_v2_service.this", CLOUD_RUN)
    container = service["template"][0]["containers"][0]
    assert container["resources"][0]["cpu_idle"] == "${!var.cpu_always_allocated}"


def test_services_read_the_database_url_from_secret_manager_not_plain_env():
    for name in ("api", "worker"):
        m = module(name)
        assert "DATABASE_URL" in str(m["secret_env"]), name
        assert "DATABASE_URL" not in str(m["env"]), name
        assert "DATABASE_URL" not in str(src.terraform_locals(ROOT_MODULE)["common_env"])


def test_services_read_the_job_type_secrets_key_from_secret_manager_not_plain_env():
    assert src.terraform_locals(ROOT_MODULE)["job_type_secrets_key_secret"] == (
        "${google_secret_manager_secret.job_type_secrets_key.secret_id}"
    )
    for name in ("api", "worker"):
        assert secret_env_reference(name, "JOB_TYPE_SECRETS_KEY") == "${local.job_type_secrets_key_secret}", name
        assert "JOB_TYPE_SECRETS_KEY" not in str(module(name)["env"]), name
        # A revision must not start before it may read the secret.
        assert "${google_secret_manager_secret_iam_member.job_type_secrets_key_accessor}" in module(name)["depends_on"]
    assert "JOB_TYPE_SECRETS_KEY" not in str(src.terraform_locals(ROOT_MODULE)["common_env"])


def test_job_type_secrets_key_is_32_random_bytes_kept_in_secret_manager():
    key = src.terraform_resource("random_bytes.job_type_secrets_key", ROOT_MODULE)
    assert key["length"] == 32
    version = src.terraform_resource("google_secret_manager_secret_version.job_type_secrets_key", ROOT_MODULE)
    assert version["secret"] == "${google_secret_manager_secret.job_type_secrets_key.id}"
    assert version["secret_data"] == "${random_bytes.job_type_secrets_key.base64}"


def test_services_and_jobs_mount_the_cloud_sql_connector():
    for name in ("api", "worker"):
        assert module(name)["cloudsql_instances"] == [
            "${google_sql_database_instance.jobs.connection_name}"
        ]
    job = next(iter(src.terraform_resources("google_cloud_run_v2_job", ROOT_MODULE).values()))
    volume = job["template"][0]["template"][0]["volumes"][0]
    assert volume["name"] == "cloudsql"


def test_terraform_does_not_roll_back_the_image_cloud_build_deployed():
    service = src.terraform_resource("google_cloud_run_v2_service.this", CLOUD_RUN)
    ignored = service["lifecycle"][0]["ignore_changes"]
    assert "${template[0].containers[0].image}" in ignored


def test_everything_runs_as_its_own_service_account():
    assert module("api")["service_account_email"] == "${google_service_account.api.email}"
    assert module("worker")["service_account_email"] == "${google_service_account.worker.email}"
    for job in src.terraform_resources("google_cloud_run_v2_job", ROOT_MODULE).values():
        assert job["template"][0]["template"][0]["service_account"] == "${google_service_account.migrate.email}"


# --- Cloud SQL ------------------------------------------------------------------------


def test_cloud_sql_is_protected_from_deletion_by_terraform_and_by_the_api():
    instance = sql_instance()
    assert instance["deletion_protection"] is True
    settings = src.single(instance["settings"], "settings")
    assert settings["deletion_protection_enabled"] is True


def test_cloud_sql_has_daily_backups_and_point_in_time_recovery():
    settings = src.single(sql_instance()["settings"], "settings")
    backup = src.single(settings["backup_configuration"], "backup_configuration")
    assert backup["enabled"] is True
    assert backup["point_in_time_recovery_enabled"] is True
    assert backup["transaction_log_retention_days"] >= 1


def test_cloud_sql_accepts_only_tls_connections_from_no_open_network():
    settings = src.single(sql_instance()["settings"], "settings")
    ip = src.single(settings["ip_configuration"], "ip_configuration")
    assert ip["ssl_mode"] in ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED")
    assert "authorized_networks" not in ip


def test_database_password_is_random_and_kept_in_secret_manager():
    versions = src.terraform_resources("google_secret_manager_secret_version", ROOT_MODULE)
    data = {address: body["secret_data"] for address, body in versions.items()}
    assert data["google_secret_manager_secret_version.database_password"] == "${random_password.database.result}"
    assert "random_password.database.result" in data["google_secret_manager_secret_version.database_url"]
    user = src.terraform_resource("google_sql_user.jobs", ROOT_MODULE)
    assert user["password"] == "${random_password.database.result}"


# --- IAM --------------------------------------------------------------------------------


def project_roles() -> list[tuple[str, str]]:
    """(role expression, member expression) of every project-level grant."""
    out = []
    for body in src.terraform_resources("google_project_iam_member", ROOT_MODULE).values():
        out.append((body["role"], body["member"]))
    return out


def project_role_names() -> set[str]:
    """Every role granted on the whole project (literal, for_each or locals)."""
    grants = src.terraform_resources("google_project_iam_member", ROOT_MODULE)
    text = " ".join(str(body) for body in grants.values())
    text += str(src.terraform_locals(ROOT_MODULE).get("runtime_project_roles", ""))
    return set(re.findall(r"roles/[A-Za-z.]+", text))


def test_no_account_gets_a_basic_or_admin_role_on_the_project():
    roles = project_role_names()
    assert "roles/cloudsql.client" in roles  # the parser found the grants
    for role in roles:
        assert role not in ("roles/owner", "roles/editor", "roles/viewer"), role
        assert not role.endswith("admin") and not role.endswith(".admin"), role


def test_secrets_are_granted_per_secret_never_project_wide():
    for role, _member in project_roles():
        assert "secretmanager" not in role
    grants = src.terraform_resources("google_secret_manager_secret_iam_member", ROOT_MODULE)
    database = grants["google_secret_manager_secret_iam_member.database_url_accessor"]
    assert database["secret_id"] == "${google_secret_manager_secret.database_url.secret_id}"
    assert database["role"] == "roles/secretmanager.secretAccessor"
    key = grants["google_secret_manager_secret_iam_member.job_type_secrets_key_accessor"]
    assert key["secret_id"] == "${google_secret_manager_secret.job_type_secrets_key.secret_id}"
    assert key["role"] == "roles/secretmanager.secretAccessor"
    assert key["for_each"] == {
        "api": "${google_service_account.api.member}",
        "worker": "${google_service_account.worker.member}",
    }
    assert key["member"] == "${each.value}"


def test_the_worker_may_mint_id_tokens_for_itself_only():
    """OIDC targets of job types get ID tokens of the worker's own account."""
    grants = src.terraform_resources("google_service_account_iam_member", ROOT_MODULE)
    grant = grants["google_service_account_iam_member.worker_token_creator"]
    assert grant["service_account_id"] == "${google_service_account.worker.name}"
    assert grant["role"] == "roles/iam.serviceAccountTokenCreator"
    assert grant["member"] == "${google_service_account.worker.member}"
    for address, body in grants.items():
        if "google_service_account.worker" in str(body.get("member", "")):
            assert body["service_account_id"] == "${google_service_account.worker.name}", address
    for role, _member in project_roles():
        assert "serviceAccountTokenCreator" not in role, "token creation on one account, not the project"


def test_the_push_account_has_no_role_but_invoking_the_worker():
    for role, member in project_roles():
        assert "google_service_account.push" not in member, role


def test_github_can_federate_only_from_main_of_the_configured_repository():
    providers = src.terraform_resources("google_iam_workload_identity_pool_provider", ROOT_MODULE)
    provider = providers["google_iam_workload_identity_pool_provider.github"]
    assert provider["oidc"][0]["issuer_uri"] == "https://token.actions.githubusercontent.com"
    assert provider["attribute_condition"] == (
        'assertion.sub == \\"repo:${var.github_repository}:ref:refs/heads/main\\"'
    )
    binding = src.terraform_resource("google_service_account_iam_member.github_workload_identity_user", ROOT_MODULE)
    assert binding["member"].endswith("/attribute.repository/${var.github_repository}")
    assert not src.terraform_resources("google_service_account_key"), "no JSON keys"


# --- project setup -----------------------------------------------------------------------


def test_the_apis_the_resources_use_are_enabled():
    services = src.terraform_resource("google_project_service.enabled", ROOT_MODULE)["for_each"]
    needed = {
        "run.googleapis.com",
        "sqladmin.googleapis.com",
        "pubsub.googleapis.com",
        "secretmanager.googleapis.com",
        "artifactregistry.googleapis.com",
        "cloudbuild.googleapis.com",
        "iamcredentials.googleapis.com",
        "sts.googleapis.com",
    }
    assert needed <= set(re.findall(r"[a-z]+\.googleapis\.com", str(services)))


def test_every_module_pins_the_google_provider_to_one_major_version():
    for path, doc in src.terraform_files().items():
        for block in doc.get("terraform", []):
            for providers in block.get("required_providers", []):
                google = providers["google"]
                assert google["source"] == "hashicorp/google", path
                assert re.fullmatch(r">= 7\.\d+, < 8\.0", google["version"]), path
