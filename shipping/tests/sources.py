"""Readers for the files the shipping tests compare: the Rust crates and their
manifests, the Dockerfile, docker-compose.yml, cloudbuild.yaml, the emulator
setup and the Terraform configuration. Each returns plain Python data, so the
tests state only what must agree."""

from __future__ import annotations

import functools
import re
import shlex
import tomllib
from pathlib import Path

import hcl2
import yaml

ROOT = Path(__file__).resolve().parents[2]

# Set by the platform, never by us; a file may mention them without the code
# reading them (Cloud Run rejects PORT in a service's env anyway).
PLATFORM_ENV = frozenset(
    {
        "PORT",
        "K_SERVICE",
        "K_REVISION",
        "K_CONFIGURATION",
        "CLOUD_RUN_JOB",
        "CLOUD_RUN_EXECUTION",
        "CLOUD_RUN_TASK_INDEX",
        "CLOUD_RUN_TASK_ATTEMPT",
        "CLOUD_RUN_TASK_COUNT",
    }
)

# The image this project builds; services running other images (postgres) are
# not ours to check.
IMAGE_TAGS = ("jobs:local",)


# --- Rust ------------------------------------------------------------------


@functools.cache
def workspace_manifest() -> dict:
    return tomllib.loads((ROOT / "Cargo.toml").read_text())


def workspace_members() -> tuple[str, ...]:
    return tuple(workspace_manifest()["workspace"]["members"])


@functools.cache
def manifest(crate: str) -> dict:
    return tomllib.loads((ROOT / crate / "Cargo.toml").read_text())


def crate_binaries(crate: str) -> set[str]:
    """Binary targets of a crate, as Cargo names them: explicit [[bin]]
    entries, plus src/main.rs (named after the package) and src/bin/*.rs
    unless an explicit entry already builds that file."""
    data = manifest(crate)
    package = data["package"]
    explicit = data.get("bin", [])
    names = {b["name"] for b in explicit}
    paths = {str(Path(b["path"])) for b in explicit if "path" in b}
    if package.get("autobins", True):
        crate_dir = ROOT / crate
        if (crate_dir / "src/main.rs").is_file() and "src/main.rs" not in paths:
            names.add(package["name"])
        for path in sorted((crate_dir / "src/bin").glob("*.rs")):
            rel = str(path.relative_to(crate_dir))
            if rel not in paths:
                names.add(path.stem)
        for path in sorted((crate_dir / "src/bin").glob("*/main.rs")):
            rel = str(path.relative_to(crate_dir))
            if rel not in paths:
                names.add(path.parent.name)
    return names


def workspace_binaries() -> dict[str, str]:
    """Binary name -> the crate (directory) that builds it."""
    return {name: crate for crate in workspace_members() for name in crate_binaries(crate)}


# The one binary the image ships; every other binary of the workspace is a
# role it takes, by the name it is called as (jobs/src/main.rs).
MULTI_CALL_BINARY = "jobs"


def role_binaries() -> dict[str, str]:
    """The binaries the image provides as roles of the multi-call binary:
    role name -> the crate whose code the role runs."""
    return {name: crate for name, crate in workspace_binaries().items() if name != MULTI_CALL_BINARY}


def multi_call_roles() -> set[str]:
    """The role names the multi-call binary dispatches on: the string literals
    of its `const ROLES` table."""
    crate = workspace_binaries()[MULTI_CALL_BINARY]
    table = re.search(r"\bconst\s+ROLES\b[^=]*=\s*\[(.*?)\];", rust_text(crate), re.S)
    assert table, f"no `const ROLES` table in {crate}/src"
    return set(STRING_LITERAL.findall(table.group(1)))


def crate_dependencies(crate: str) -> set[str]:
    return set(manifest(crate).get("dependencies", {}))


def crates_of_binary(binary: str) -> list[str]:
    """The crate that builds `binary`, and the workspace crates it links whose
    code may read settings (jobs-domain holds the shared config)."""
    crate = workspace_binaries()[binary]
    crates = [crate]
    by_package = {manifest(c)["package"]["name"]: c for c in workspace_members()}
    for dep in sorted(crate_dependencies(crate)):
        if dep in by_package:
            crates.append(by_package[dep])
    return crates


@functools.cache
def rust_text(crate: str) -> str:
    """All Rust source of a crate's src/ (tests and examples excluded)."""
    files = sorted((ROOT / crate / "src").rglob("*.rs"))
    return "\n".join(f.read_text() for f in files)


ENV_ATTRIBUTE = re.compile(r'\benv\s*=\s*"([A-Z][A-Z0-9_]*)"')
ENV_CALL = re.compile(r'\bvar(?:_os)?\(\s*"([A-Z][A-Z0-9_]*)"\s*\)')


def env_read_by(crates: list[str]) -> set[str]:
    """Environment variables the code of `crates` reads: clap `env = "NAME"`
    attributes, std::env::var("NAME") calls, and RUST_LOG where
    tracing-subscriber's EnvFilter reads it (from_default_env)."""
    names: set[str] = set()
    for crate in crates:
        text = rust_text(crate)
        names |= set(ENV_ATTRIBUTE.findall(text))
        names |= set(ENV_CALL.findall(text))
        if "from_default_env" in text:
            names.add("RUST_LOG")
    return names


def env_read_by_binary(binary: str) -> set[str]:
    return env_read_by(crates_of_binary(binary))


STRING_LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"')


def rust_string_literals(crates: list[str]) -> set[str]:
    literals: set[str] = set()
    for crate in crates:
        literals |= set(STRING_LITERAL.findall(rust_text(crate)))
    return literals


def string_const(crates: list[str], name: str) -> str | None:
    """The value of `const NAME: &str = "...";` in `crates`."""
    for crate in crates:
        found = re.search(rf'\bconst\s+{name}\s*:\s*&(?:\'static\s+)?str\s*=\s*"([^"]*)"', rust_text(crate))
        if found:
            return found.group(1)
    return None


def env_default(crates: list[str], name: str) -> str | None:
    """The default_value of the clap argument whose env is `name`: a string
    literal, or a path to a string constant (crate::x::NAME) in `crates`."""
    for crate in crates:
        text = rust_text(crate)
        for match in re.finditer(r"#\[arg\((.*?)\)\]", text, re.S):
            attribute = match.group(1)
            if not re.search(rf'\benv\s*=\s*"{name}"', attribute):
                continue
            literal = re.search(r'\bdefault_value\s*=\s*"([^"]*)"', attribute)
            if literal:
                return literal.group(1)
            path = re.search(r"\bdefault_value\s*=\s*([A-Za-z_][A-Za-z0-9_:]*)", attribute)
            if path:
                return string_const(crates, path.group(1).split("::")[-1])
    return None


# --- Dockerfile ------------------------------------------------------------


@functools.cache
def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined."""
    text = re.sub(r"\\\n", " ", dockerfile())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def dockerfile_built_binaries() -> set[str]:
    names: set[str] = set()
    for keyword, rest in dockerfile_instructions():
        if keyword == "RUN" and "cargo build" in rest:
            names |= set(re.findall(r"--bin[= ]+([A-Za-z0-9_-]+)", rest))
    return names


def dockerfile_cooked_binaries() -> set[str]:
    """Binaries whose dependencies the cargo-chef layer builds."""
    names: set[str] = set()
    for keyword, rest in dockerfile_instructions():
        if keyword == "RUN" and "cargo chef cook" in rest:
            names |= set(re.findall(r"--bin[= ]+([A-Za-z0-9_-]+)", rest))
    return names


def dockerfile_copied_binaries() -> set[str]:
    names: set[str] = set()
    for keyword, rest in dockerfile_instructions():
        if keyword == "RUN":
            names |= set(re.findall(r"target/release/([A-Za-z0-9_-]+)", rest))
    return names


def dockerfile_links() -> dict[str, str]:
    """Symbolic links the builder makes next to the binary in /out/bin:
    link name -> target (`ln -s TARGET /out/bin/NAME`)."""
    links: dict[str, str] = {}
    for keyword, rest in dockerfile_instructions():
        if keyword == "RUN":
            for target, name in re.findall(r"\bln\s+-s\s+([A-Za-z0-9_-]+)\s+/out/bin/([A-Za-z0-9_-]+)", rest):
                links[name] = target
    return links


def dockerfile_runtime() -> list[tuple[str, str]]:
    """The instructions of the last stage (the image that ships)."""
    instructions = dockerfile_instructions()
    last_from = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
    return instructions[last_from:]


# --- docker compose ----------------------------------------------------------


@functools.cache
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def compose_services() -> dict[str, dict]:
    return compose()["services"]


def compose_env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def compose_our_services() -> dict[str, dict]:
    """Services running this project's image, with the binary each runs."""
    return {
        name: svc
        for name, svc in compose_services().items()
        if svc.get("image") in IMAGE_TAGS or "build" in svc
    }


def compose_binary(service: dict) -> str:
    entrypoint = service.get("entrypoint")
    if isinstance(entrypoint, str):
        entrypoint = shlex.split(entrypoint)
    if entrypoint:
        return entrypoint[0]
    command = service.get("command")
    if isinstance(command, str):
        command = shlex.split(command)
    return command[0] if command else "api"  # the image's CMD


# --- emulator setup ----------------------------------------------------------


@functools.cache
def emulator_setup() -> dict:
    return tomllib.loads((ROOT / "shipping/emulator.toml").read_text())


def emulator_subscription(name: str) -> dict:
    matches = [s for s in emulator_setup()["subscriptions"] if s["name"] == name]
    assert matches, f"shipping/emulator.toml defines no subscription {name!r}"
    return matches[0]


# --- Cloud Build -------------------------------------------------------------


@functools.cache
def cloudbuild() -> dict:
    return yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())


def cloudbuild_step(step_id: str) -> dict:
    steps = [s for s in cloudbuild()["steps"] if s.get("id") == step_id]
    assert steps, f"cloudbuild.yaml has no step {step_id!r}"
    return steps[0]


def cloudbuild_commands() -> list[tuple[str, list[str]]]:
    """(step id, argv) of every shell command in every step's script, with
    Cloud Build's `$$` escapes undone and line continuations joined."""
    out = []
    for step in cloudbuild()["steps"]:
        args = step.get("args", [])
        scripts = [a for a in args if "\n" in a or step.get("entrypoint") == "bash"]
        script = scripts[-1] if scripts else ""
        script = script.replace("$$", "$")
        script = re.sub(r"\\\n", " ", script)
        for line in script.splitlines():
            line = line.strip()
            if line.startswith("gcloud "):
                out.append((step.get("id", ""), shlex.split(line)))
    return out


def flag_values(argv: list[str], flag: str) -> list[str]:
    values = []
    for i, arg in enumerate(argv):
        if arg.startswith(flag + "="):
            values.append(arg.split("=", 1)[1])
        elif arg == flag and i + 1 < len(argv):
            values.append(argv[i + 1])
    return values


def key_values(values: list[str]) -> dict[str, str]:
    """KEY=VALUE,KEY=VALUE lists of gcloud flags."""
    out = {}
    for value in values:
        for pair in value.split(","):
            key, _, val = pair.partition("=")
            out[key] = val
    return out


def cloudbuild_deploys() -> dict[str, dict]:
    """Cloud Run service or job name -> what Cloud Build deploys to it:
    kind (service/job), step, command, env, secrets."""
    deploys = {}
    for step_id, argv in cloudbuild_commands():
        if argv[:3] == ["gcloud", "run", "deploy"]:
            kind, name = "service", argv[3]
        elif argv[:4] == ["gcloud", "run", "jobs", "deploy"]:
            kind, name = "job", argv[4]
        else:
            continue
        deploys[name] = {
            "kind": kind,
            "step": step_id,
            "command": flag_values(argv, "--command"),
            "args": flag_values(argv, "--args"),
            "env": key_values(flag_values(argv, "--update-env-vars") + flag_values(argv, "--set-env-vars")),
            "secrets": key_values(flag_values(argv, "--update-secrets") + flag_values(argv, "--set-secrets")),
        }
    return deploys


def cloudbuild_substitute(text: str) -> str:
    """Replace user substitutions by their defaults (${_X} and $_X)."""
    for key, value in cloudbuild().get("substitutions", {}).items():
        text = text.replace("${" + key + "}", value).replace("$" + key, value)
    return text


# --- Terraform ---------------------------------------------------------------


def _unquote(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1]
    return value


def normalize(value):
    """python-hcl2 keeps quotes and adds bookkeeping keys; drop both so that a
    literal "jobs" reads as jobs and a reference stays ${var.x}."""
    if isinstance(value, dict):
        return {_unquote(k): normalize(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return _unquote(value)


@functools.cache
def terraform_files() -> dict[str, dict]:
    files = sorted((ROOT / "terraform").rglob("*.tf"))
    return {str(f.relative_to(ROOT)): normalize(hcl2.load(f.open())) for f in files}


def terraform_in(directory: str) -> list[dict]:
    return [d for path, d in terraform_files().items() if str(Path(path).parent) == directory]


def terraform_blocks(kind: str, directory: str | None = None) -> dict[str, dict]:
    """'resource'/'data' -> {"TYPE.NAME": body}; 'module'/'variable'/'output' -> {NAME: body}."""
    out = {}
    docs = terraform_in(directory) if directory else terraform_files().values()
    for doc in docs:
        for block in doc.get(kind, []):
            for key, body in block.items():
                if kind in ("resource", "data"):
                    for name, inner in body.items():
                        out[f"{key}.{name}"] = inner
                else:
                    out[key] = body
    return out


def terraform_resources(rtype: str, directory: str | None = None) -> dict[str, dict]:
    prefix = rtype + "."
    return {k: v for k, v in terraform_blocks("resource", directory).items() if k.startswith(prefix)}


def terraform_resource(address: str, directory: str) -> dict:
    resources = terraform_blocks("resource", directory)
    assert address in resources, f"{directory} has no resource {address}"
    return resources[address]


def terraform_locals(directory: str) -> dict:
    out = {}
    for doc in terraform_in(directory):
        for block in doc.get("locals", []):
            out.update(block)
    return out


def terraform_variable_default(name: str, directory: str):
    variables = terraform_blocks("variable", directory)
    assert name in variables, f"{directory} has no variable {name}"
    return variables[name].get("default")


def expression_env_names(expression, local_values: dict) -> set[str]:
    """Env names in a module's env/secret_env argument: keys of an object,
    keys of the locals it merges, and keys of inline objects in merge()."""
    if isinstance(expression, dict):
        return set(expression)
    names: set[str] = set()
    text = str(expression)
    for ref in re.findall(r"local\.([a-z_0-9]+)", text):
        value = local_values.get(ref)
        if isinstance(value, dict):
            names |= set(value)
    names |= set(re.findall(r"\b([A-Z][A-Z0-9_]*)\s*=", text))
    return names


def single(block_list, what: str) -> dict:
    assert isinstance(block_list, list) and len(block_list) == 1, f"expected one {what} block"
    return block_list[0]
