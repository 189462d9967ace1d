"""Integrators install the verification core and its pytest plugin with pip, and get nothing of the service.

The slow tests build the sdist and the wheel from the checkout, install the wheel into a
fresh virtual environment and run the integrator example there, the one the integrators' page of
the docs shows (docs/integrators.md),
with that environment's own pytest and no ``pytest_plugins`` line: the entry point loads
the plugin.
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import verification
from tests.support.built_once import built_once
from verification.testing import MessageBirdSigner

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = Path(__file__).with_name("integrator_example")
EXAMPLE_FILES = ("app.py", "conftest.py", "test_callbacks.py")
INTEGRATORS_PAGE = REPO / "docs" / "integrators.md"
DIST = "messagebird_signature_verification"
LIBRARY = frozenset(f"verification/{module.name}" for module in (REPO / "verification").glob("*.py"))
SERVICE_DEPENDENCIES = {"flask", "sqlalchemy", "boto3", "gunicorn"}
#: What a build may not pick up from the working tree: environments, caches, earlier builds.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "instance", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis", ".pytest_cache"
)
#: The variables that would let the checkout or our own pytest settings leak into the fresh environment.
LEAKY_VARIABLES = {
    "PYTHONPATH",
    "PYTHONHOME",
    "VIRTUAL_ENV",
    "PYTEST_ADDOPTS",
    "PYTEST_PLUGINS",
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
}


@dataclass(frozen=True)
class Installed:
    """A fresh virtual environment with the wheel installed, and what the wheel brought into it."""

    python: Path
    distributions: frozenset[str]


def run(command: list[str | Path], *, cwd: Path | None = None, timeout: int = 300) -> str:
    """Run ``command`` without the checkout on its path; its stdout, or the test fails with its output."""
    environment = {name: value for name, value in os.environ.items() if name not in LEAKY_VARIABLES}
    completed = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert completed.returncode == 0, f"{command}:\n{completed.stdout}\n{completed.stderr}"
    return completed.stdout


def only(paths: list[Path]) -> Path:
    assert len(paths) == 1, paths
    return paths[0]


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built from a copy of the working tree, once for the run (``built_once``).

    A copy, so that a ``build/`` folder left by an earlier build cannot slip stale
    files into the wheel, and so that this build leaves nothing in the checkout.
    Everything else of the tree is copied, so the archives prove what the packaging leaves out.
    """

    def build(work: Path) -> None:
        source = work / "source"
        shutil.copytree(REPO, source, ignore=NOT_SOURCES)
        run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", work / "dist", source])

    return built_once(tmp_path_factory, "dists", build) / "dist"


@pytest.fixture(scope="module")
def installed(dists: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """A fresh venv with ``<wheel>[pytest]`` installed, from the package index this machine reaches; what it
    holds is read as soon as the wheel is in (the integrator's project adds Flask after)."""

    def build(folder: Path) -> None:
        venv = folder / "venv"
        run([sys.executable, "-m", "venv", venv])
        wheel = only(sorted(dists.glob("*.whl")))
        run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", f"{wheel}[pytest]"])
        (folder / "distributions").write_text("\n".join(sorted(distribution_names(venv / "bin" / "python"))))

    folder = built_once(tmp_path_factory, "integrator", build)
    return Installed(folder / "venv" / "bin" / "python", frozenset((folder / "distributions").read_text().split()))


def distribution_names(python: Path) -> frozenset[str]:
    """The normalised names of the distributions installed where ``python`` runs."""
    script = "import importlib.metadata as m; print(*(d.metadata['Name'] for d in m.distributions()))"
    return frozenset(name.lower().replace("_", "-") for name in run([python, "-c", script]).split())


@pytest.fixture(scope="module")
def integrator_project(installed: Installed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The integrator example in a folder of its own, with Flask, the integrator's own dependency."""

    def build(project: Path) -> None:
        run([installed.python, "-m", "pip", "install", "--quiet", "flask"])
        for name in EXAMPLE_FILES:
            shutil.copy(EXAMPLE / name, project / name)

    return built_once(tmp_path_factory, "project", build)


def run_pytest(installed: Installed, project: Path) -> str:
    return run([installed.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"], cwd=project)


@pytest.mark.slow
class TestArchives:
    def test_the_wheel_holds_the_library_and_its_metadata_alone(self, dists: Path) -> None:
        wheel = only(sorted(dists.glob("*.whl")))
        assert wheel.name == f"{DIST}-{verification.__version__}-py3-none-any.whl"
        dist_info = f"{DIST}-{verification.__version__}.dist-info"
        metadata = {f"{dist_info}/{name}" for name in ("METADATA", "WHEEL", "entry_points.txt", "top_level.txt")}
        metadata.add(f"{dist_info}/RECORD")
        assert set(zipfile.ZipFile(wheel).namelist()) == LIBRARY | metadata

    def test_the_long_description_is_the_readme(self, dists: Path) -> None:
        wheel = zipfile.ZipFile(only(sorted(dists.glob("*.whl"))))
        metadata = wheel.read(f"{DIST}-{verification.__version__}.dist-info/METADATA").decode()
        assert "Description-Content-Type: text/markdown" in metadata
        assert metadata.partition("\n\n")[2].strip() == (REPO / "README.md").read_text().strip()

    def test_the_sdist_holds_the_library_and_its_metadata_alone(self, dists: Path) -> None:
        sdist = only(sorted(dists.glob("*.tar.gz")))
        root = f"{DIST}-{verification.__version__}"
        with tarfile.open(sdist) as archive:
            members = {member.name.removeprefix(f"{root}/") for member in archive.getmembers() if member.isfile()}
        egg_info = {name for name in members if name.startswith(f"{DIST}.egg-info/")}
        top_level = {"PKG-INFO", "setup.cfg", "pyproject.toml", "MANIFEST.in", "README.md", "CHANGELOG.md"}
        assert members - egg_info == LIBRARY | top_level

    def test_the_plugin_is_registered_under_its_module_name(self, dists: Path) -> None:
        """So that a ``pytest_plugins`` line or ``-p verification.testing`` finds it loaded, not a second copy."""
        wheel = zipfile.ZipFile(only(sorted(dists.glob("*.whl"))))
        entry_points = wheel.read(f"{DIST}-{verification.__version__}.dist-info/entry_points.txt").decode()
        assert entry_points.split() == ["[pytest11]", "verification.testing", "=", "verification.testing"]


@pytest.mark.slow
class TestInstalledWheel:
    def test_it_brings_pyjwt_and_nothing_of_the_service(self, installed: Installed) -> None:
        assert {"messagebird-signature-verification", "pyjwt", "pytest"} <= installed.distributions
        assert not SERVICE_DEPENDENCIES & installed.distributions

    def test_it_requires_pyjwt_and_pytest_only_for_the_plugin(self, installed: Installed) -> None:
        script = f"import importlib.metadata as m; print(*m.requires({DIST!r}), sep='\\n')"
        requires = run([installed.python, "-c", script])
        assert requires.splitlines() == ["pyjwt>=2.10", 'pytest>=8; extra == "pytest"']

    def test_the_package_imported_is_the_installed_one(self, installed: Installed, tmp_path: Path) -> None:
        script = "import verification; print(verification.__file__, verification.__version__)"
        path, version = run([installed.python, "-c", script], cwd=tmp_path).split()
        assert Path(path).is_relative_to(installed.python.parents[1])
        assert version == verification.__version__


@pytest.mark.slow
class TestIntegratorExample:
    def test_it_passes_with_the_plugin_loaded_by_its_entry_point(
        self, installed: Installed, integrator_project: Path
    ) -> None:
        assert "pytest_plugins" not in (integrator_project / "conftest.py").read_text()
        assert re.search(r"\b7 passed\b", run_pytest(installed, integrator_project))

    def test_a_pytest_plugins_line_still_works_beside_the_entry_point(
        self, installed: Installed, integrator_project: Path, tmp_path: Path
    ) -> None:
        project = tmp_path / "project"
        shutil.copytree(integrator_project, project, ignore=shutil.ignore_patterns("__pycache__"))
        conftest = project / "conftest.py"
        conftest.write_text('pytest_plugins = ["verification.testing"]\n' + conftest.read_text())
        assert re.search(r"\b7 passed\b", run_pytest(installed, project))


class TestExampleSource:
    def test_the_integrators_page_shows_the_example_files_verbatim_and_in_order(self) -> None:
        section = page_body(INTEGRATORS_PAGE)
        blocks = re.findall(r"^```python\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)
        assert blocks == [(EXAMPLE / name).read_text() for name in EXAMPLE_FILES]

    def test_the_example_tests_break_every_rule_the_signer_can_break(self) -> None:
        switches = [
            name
            for name, parameter in inspect.signature(MessageBirdSigner.__call__).parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.default is False
        ]
        tests, page = (EXAMPLE / "test_callbacks.py").read_text(), page_body(INTEGRATORS_PAGE)
        assert switches
        assert [switch for switch in switches if f'"{switch}"' not in tests and f"{switch}=True" not in tests] == []
        assert [switch for switch in switches if f"`{switch}`" not in page] == []

    def test_the_readme_leads_integrators_to_that_page(self) -> None:
        assert "](docs/integrators.md)" in (REPO / "README.md").read_text()


def page_body(page: Path) -> str:
    """A docs page's lines after its title up to its next heading (a ``#`` line outside a code block)."""
    lines = page.read_text().splitlines(keepends=True)
    assert lines[0].startswith("# "), page
    section, in_code = [], False
    for line in lines[1:]:
        if line.startswith("#") and not in_code:
            break
        in_code ^= line.startswith("```")
        section.append(line)
    return "".join(section)
