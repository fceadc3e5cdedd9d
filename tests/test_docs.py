"""The documentation as a newcomer meets it: a README that reads in minutes, links that lead
somewhere, no history outside the changelog, and a map of the library that names every module
there is."""

import re
from pathlib import Path

from conftest import ROOT

README_LINES = 200
FIRST_SCREEN = 25  # lines a reader sees before scrolling
DOCS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md"]
DOCS += sorted((ROOT / "docs").rglob("*.md"))
LIBRARY = ROOT / "workflow" / "scripts" / "attnablate"
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
_DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")
_GENERATED = re.compile(r"<!-- (\w+):begin -->.*?<!-- \1:end -->", re.S)


def prose(path: Path) -> str:
    """A page without what a tool generates into it (the tables read from measurements)."""
    return _GENERATED.sub("", path.read_text(encoding="utf-8"))


def test_the_readme_is_a_front_door():
    """What it is, the two commands, then the answer: the quick start on the first screen."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_LINES, f"README.md has {len(lines)} lines"
    headings = [line for line in lines if line.startswith("## ")]
    assert headings[:2] == ["## Quick start", "## The answer so far"], headings
    commands = [i for i, line in enumerate(lines) if line.startswith(("./run.sh", "./test.sh"))]
    assert len(commands) == 2 and max(commands) < FIRST_SCREEN, commands


def test_every_relative_link_of_the_docs_leads_to_a_file():
    broken = []
    for page in DOCS:
        for target in _LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken


def test_no_dates_outside_the_changelog_and_the_measurements():
    """History lives in CHANGELOG.md, and dated figures in docs/performance's files: the README,
    the docs' prose and the configs' comments say what is, not when it became so."""
    pages = [p for p in DOCS if p.name != "CHANGELOG.md"]
    configs = [ROOT / "config.yaml", *sorted((ROOT / "configs").rglob("*.yaml"))]
    dated = [
        f"{path.relative_to(ROOT)}: {match}"
        for path in pages + configs
        for match in _DATE.findall(prose(path))
    ]
    assert not dated, dated


def test_the_architecture_names_every_library_module_and_no_other():
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    table = text.split("The library, one subpackage per stage")[1].split("\n\n")[1]
    named = set()
    for row in table.splitlines()[2:]:
        package, modules = row.split("|")[1:3]
        where = package.strip().strip("`").replace("(top)", "")
        for module in re.findall(r"`(\w+)`", modules):
            if module[0].islower():  # a class named beside its module is not a module
                named.add(f"{where}/{module}" if where else module)
    files = {
        str(p.relative_to(LIBRARY).with_suffix(""))
        for p in LIBRARY.rglob("*.py")
        if p.stem != "__init__"
    }
    assert files - named == set(), f"not in CONTRIBUTING.md's map: {files - named}"
    assert named - files == set(), f"no such module: {named - files}"
