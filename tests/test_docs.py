"""The README stays a newcomer's page, the docs site holds the rest, and module docstrings stay short.

``make lint`` builds the site with ``mkdocs build --strict`` (a link to a missing page or anchor, a
page left out of the nav); these tests hold what the build does not see: the README's length and
links, the nav read without mkdocs, every command of the CLI on its page, every docstring's length.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml
from flask import Flask

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
README_MAX_LINES = 400
DOCSTRING_MAX_LINES = 25
#: Where the service's code lives: its module docstrings say what each module is for, the docs the story.
CODE = ("app.py", "settings.py", "wsgi.py", "receiver", "storage", "verification", "deadlines", "simulators")


def test_the_readme_is_at_most_400_lines() -> None:
    assert len((REPO / "README.md").read_text().splitlines()) <= README_MAX_LINES


def test_every_docs_page_is_in_the_nav_and_every_nav_entry_is_a_page() -> None:
    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"]
    pages = {str(page.relative_to(DOCS)) for page in DOCS.rglob("*.md")}
    assert sorted(nav_pages(nav)) == sorted(pages)


def test_the_readme_links_lead_to_docs_pages_and_their_headings() -> None:
    links = re.findall(r"\]\((docs/[^)#]+)(?:#([^)]+))?\)", (REPO / "README.md").read_text())
    assert links
    for path, anchor in links:
        assert (REPO / path).is_file(), path
        if anchor and path.endswith(".md"):
            assert anchor in heading_anchors(REPO / path), f"{path}#{anchor}"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # the commands, not the database
def test_every_command_of_the_cli_is_named_on_its_page(app: Flask) -> None:
    page = (DOCS / "cli.md").read_text()
    commands = list(command_names(app.cli))
    assert len(commands) > 20
    assert [name for name in commands if f"`{name}" not in page] == []


def test_every_benchmark_of_make_bench_is_on_the_measured_figures_page() -> None:
    benchmarks = re.findall(r"\$\(BIN\)/python (bench/\w+\.py)", (REPO / "Makefile").read_text())
    page = (DOCS / "measured-figures.md").read_text()
    assert benchmarks
    assert [script for script in benchmarks if f".venv/bin/python {script}" not in page] == []


def test_a_long_docstring_is_counted_from_its_opening_quotes_to_its_closing_ones(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text('"""One line.\n\nTwo more\nlines.\n"""\n\nX = 1\n')
    assert docstring_lines(module) == 5
    module.write_text("X = 1\n")
    assert docstring_lines(module) == 0


def test_the_module_docstrings_are_at_most_25_lines() -> None:
    modules = list(python_modules())
    assert len(modules) > 100
    lengths = {str(path.relative_to(REPO)): docstring_lines(path) for path in modules}
    too_long = {module: lines for module, lines in lengths.items() if lines > DOCSTRING_MAX_LINES}
    assert too_long == {}


def python_modules() -> Iterator[Path]:
    for name in CODE:
        path = REPO / name
        yield from [path] if path.is_file() else sorted(path.rglob("*.py"))


def docstring_lines(module: Path) -> int:
    """The lines a module's docstring takes in the file, its quotes included; 0 without one."""
    body = ast.parse(module.read_text()).body
    if not body or not isinstance(body[0], ast.Expr) or not isinstance(body[0].value, ast.Constant):
        return 0
    if not isinstance(body[0].value.value, str):
        return 0
    return (body[0].end_lineno or body[0].lineno) - body[0].lineno + 1


def nav_pages(nav: object) -> Iterator[str]:
    """Every page mkdocs.yml's nav names, however deep its sections."""
    if isinstance(nav, str):
        yield nav
    elif isinstance(nav, list):
        for entry in nav:
            yield from nav_pages(entry)
    elif isinstance(nav, dict):
        for entry in nav.values():
            yield from nav_pages(entry)


def heading_anchors(page: Path) -> set[str]:
    """The anchors of a page's headings, as the toc extension and GitHub both make them for plain headings."""
    anchors, in_code = set(), False
    for line in page.read_text().splitlines():
        in_code ^= line.startswith("```")
        if line.startswith("#") and not in_code:
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", title)).strip("-"))
    return anchors


def command_names(group: click.Group, prefix: str = "") -> Iterator[str]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from command_names(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}"
