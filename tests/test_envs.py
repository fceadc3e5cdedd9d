"""`snakemake --sdm conda` runs each step in its rule's conda environment: every module a step
script imports (through the attnablate library too, at any depth, inside functions too) must
come with that environment."""

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

RULES = ROOT / "workflow" / "rules"
SCRIPTS = ROOT / "workflow" / "scripts"
# import name -> the name an environment file lists it under, where the two differ
DISTRIBUTIONS = {"yaml": "pyyaml", "PIL": "pillow"}


def rule_steps() -> list[tuple[str, str, str]]:
    """(rule, script, conda env file) of every rule with a script."""
    steps = []
    for smk in sorted(RULES.glob("*.smk")):
        for block in re.split(r"^rule ", smk.read_text(), flags=re.M)[1:]:
            name = block.split(":", 1)[0]
            script = re.search(r'script:\s*\n\s*"([^"]+)"', block)
            conda = re.search(r'conda:\s*\n\s*"([^"]+)"', block)
            if script:
                assert conda, f"rule {name} ({smk.name}) runs a script without a conda env"
                steps.append((name, script.group(1), conda.group(1)))
    return steps


def imported_modules(path, step: str | None = None) -> set[str]:
    """What ``path`` imports; of attnablate.steps, the adapter, only what the one ``step``
    function the script calls imports (each step function imports its own stage)."""
    tree = ast.parse(path.read_text())
    if step is not None:
        tree.body = [
            node
            for node in tree.body
            if not isinstance(node, ast.FunctionDef) or node.name in (step, "_agree")
        ]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def third_party_imports(script) -> set[str]:
    """Top-level names of the non-standard modules ``script`` imports, following the
    attnablate modules it imports to the end."""
    called = re.search(r"\bsteps\.(\w+)\(snakemake\)", Path(script).read_text())
    step = called.group(1) if called else None
    seen, queue, found = set(), [script], set()
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        adapter = path == SCRIPTS / "attnablate" / "steps.py"
        for name in imported_modules(path, step if adapter else None):
            top = name.split(".")[0]
            if top == "attnablate":
                module = SCRIPTS / (name.replace(".", "/") + ".py")
                if module.exists():
                    queue.append(module)
            elif top not in sys.stdlib_module_names:
                found.add(top)
    return found


def declared(env_file) -> set[str]:
    """The package names an environment file lists (conda and pip)."""
    names = set()
    for dep in yaml.safe_load(env_file.read_text())["dependencies"]:
        for spec in dep["pip"] if isinstance(dep, dict) else [dep]:
            names.add(re.split(r"[=<>!\[ ]", spec)[0].lower())
    return names


@pytest.mark.parametrize(("rule", "script", "env"), rule_steps(), ids=[s[0] for s in rule_steps()])
def test_every_step_script_import_comes_with_its_conda_env(rule, script, env):
    script_path = (RULES / script).resolve()
    env_path = (RULES / env).resolve()
    needed = {DISTRIBUTIONS.get(name, name).lower() for name in third_party_imports(script_path)}
    needed.discard("snakemake")  # the step's `snakemake` object comes from Snakemake itself
    missing = needed - declared(env_path)
    assert not missing, f"rule {rule}: {script} imports {sorted(missing)}, not in {env}"


def test_the_import_walk_finds_what_report_imports():
    """The walk itself: report.py reaches pandas and seaborn through the library."""
    found = third_party_imports(SCRIPTS / "report.py")
    assert {"pandas", "seaborn", "matplotlib"} <= found
