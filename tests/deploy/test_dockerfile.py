"""``deploy/Dockerfile`` stays in step with what CI runs (the Makefile's install recipe) and with the
rest of the deployment: no container engine here, so what can be checked is checked — the same pip
commands (the Makefile's, minus the dev extras and the editable install), the Python CI runs, every
package the wheel ships copied into the image, the code server command the workspace and the Helm
values name, and the Helm images on the Dagster release the constraints pin."""

from __future__ import annotations

import re
import shlex
import sys
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def makefile_pip_commands() -> list[list[str]]:
    """The pip commands of the Makefile's install recipe ($(STAMP)), with $(PY) as `python`."""
    text = (REPO / "Makefile").read_text()
    recipe = re.search(r"^\$\(STAMP\):.*\n((?:\t.*\n)+)", text, re.M)
    assert recipe, "the Makefile's $(STAMP) install recipe"
    commands = []
    for line in recipe.group(1).splitlines():
        words = shlex.split(line.strip().replace("$(PY)", "python"))
        if words[:3] == ["python", "-m", "pip"]:
            commands.append(words)
    return commands


def dockerfile_pip_commands() -> list[list[str]]:
    return [shlex.split(args) for word, args in instructions() if word == "RUN" and " pip " in f" {args} "]


def test_the_image_installs_exactly_as_ci_does() -> None:
    ci = makefile_pip_commands()
    assert len(ci) == 2, ci
    # CI installs the checkout editable with the dev extras; the image installs the package itself
    expected = [[{"-e": None, ".[dev]": "."}.get(w, w) for w in cmd] for cmd in ci]
    expected = [[w for w in cmd if w is not None] for cmd in expected]
    assert dockerfile_pip_commands() == expected
    assert expected[1][expected[1].index("-c"):expected[1].index("-c") + 2] == ["-c", "constraints.txt"]


def test_the_image_runs_the_python_ci_runs() -> None:
    [base] = [args for word, args in instructions() if word == "FROM"]
    version = re.fullmatch(r"python:(\d+)\.(\d+)-slim", base)
    assert version, base
    assert (int(version.group(1)), int(version.group(2))) == sys.version_info[:2]
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == f">={version.group(1)}.{version.group(2)}"


def test_the_image_holds_every_package_and_file_the_install_and_the_instance_need() -> None:
    copied = {src for word, args in instructions() if word == "COPY" for src in args.split()[:-1]}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert set(packages) <= copied, set(packages) - copied
    assert {"pyproject.toml", "constraints.txt", project["project"]["readme"], "deploy/dagster.postgres.yaml"} <= copied
    for src in copied:
        assert (REPO / src).exists(), src


def test_the_code_server_is_the_one_the_workspace_and_the_helm_values_name() -> None:
    [cmd] = [args for word, args in instructions() if word == "CMD"]
    argv = yaml.safe_load(cmd)
    module = argv[argv.index("-m") + 1]
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    assert module == workspace["load_from"][0]["python_module"]["module_name"]
    values = yaml.safe_load((REPO / "deploy" / "helm" / "values.yaml").read_text())
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", module]
    assert argv[:3] == ["dagster", "api", "grpc"] and argv[argv.index("-p") + 1] == str(deployment["port"])


def test_the_helm_images_are_on_the_dagster_release_the_constraints_pin() -> None:
    pins = dict(line.split("==") for line in (REPO / "constraints.txt").read_text().splitlines() if "==" in line)
    values = yaml.safe_load((REPO / "deploy" / "helm" / "values.yaml").read_text())
    assert values["dagsterWebserver"]["image"]["tag"] == pins["dagster"]
    assert values["dagsterDaemon"]["image"]["tag"] == pins["dagster"]
