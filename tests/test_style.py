"""The project's own lint promises: ruff, snakefmt and snakemake --lint are clean."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*args):
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True)


def test_ruff_check_and_format_are_clean():
    check = run(BIN / "ruff", "check", ".")
    assert check.returncode == 0, check.stdout
    fmt = run(BIN / "ruff", "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout


def test_snakefmt_is_clean():
    result = run(BIN / "snakefmt", "--check", "Snakefile", "workflow/rules")
    assert result.returncode == 0, result.stderr


def test_snakemake_lint_is_clean():
    result = run(BIN / "snakemake", "--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def committed_summary(root: Path, experiment: str = "default") -> str:
    """reports/<experiment>/summary.md as committed: a user's own ./run.sh rewrites the file in
    the working tree with the numbers of their machine, which must not fail the tests."""
    shown = subprocess.run(
        ["git", "show", f"HEAD:reports/{experiment}/summary.md"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    return shown.stdout if shown.returncode == 0 else ""


def readme_tool():
    """tools/readme_answer.py as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "readme_answer", ROOT / "tools" / "readme_answer.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_the_readme_sets_the_reports_side_by_side_as_they_stand():
    """One row per claim, one short cell per report of tools/readme_answer.py's REPORTS:
    exactly what the script makes of the reports in the tree, every cell of a report whose
    runs had not converged marked so, no row a reader has to scroll."""
    tool = readme_tool()
    readme = (ROOT / "README.md").read_text()
    shown = readme.split(tool.SIDES_BEGIN)[1].split(tool.SIDES_END)[0].strip("\n")
    # the committed reports, or (before a commit that regenerates them) the working tree's
    committed = {n: found for n in tool.shown() if (found := committed_summary(ROOT, n))}
    made = {
        "\n".join(tool.sides(found)).strip("\n"): found for found in (committed, tool.summaries())
    }
    assert shown in made
    summaries = made[shown]  # the reports the README was made from
    rows = [line for line in shown.splitlines() if line.startswith("|")]
    assert max(len(row) for row in rows) <= tool.ROW_LIMIT
    # the reports' table (the main answer's may lead it, the pairs' follows it)
    rows = next(b for b in shown.split("\n\n") if b.startswith("| claim (Δ")).splitlines()
    reports = [name for name, _, _ in tool.REPORTS if name in summaries]  # once committed
    assert reports[0] == "default" and rows[0].count(" | ") == len(reports)
    for column, name in enumerate(reports, start=2):
        assert tool.claim_cells(summaries[name]), f"reports/{name}: no claims table"
        if not tool.converged(summaries[name]):
            cells = [row.split(" | ")[column - 1] for row in rows[2:]]
            tested = [c for c in cells if c.strip(" |") not in (tool.MISSING, "untestable")]
            assert tested and all(tool.UNCONVERGED in c for c in tested), name


def test_the_readme_leads_with_the_main_answer_over_its_whole_ladder():
    """Once the main answer's report is committed, the README opens with it: per claim its Δ
    at every budget, its cell at the largest, where the interval and the seeds change sign,
    and whether it has settled, as the report's budget table says."""
    tool = readme_tool()
    default = committed_summary(ROOT)  # a report of the same make, standing in for it
    assert tool.course({"default": default}) == []  # not committed: nothing shown
    crossing = default.replace(
        "no change of sign up to 1,000 steps;",
        "on the other side of zero from 1,000 steps (its sign at 250);",
        1,
    )
    lines = tool.course({tool.COURSE[0]: crossing})
    rows = [line for line in lines if line.startswith("|")]
    cells = [tool.table_cells(row) for row in rows]
    assert cells[0][1:3] == ["Δ at 250, 500, 1,000 steps", "at 1,000 steps"]
    claims = tool.claim_cells(default)
    assert [c[0] for c in cells[2:]] == list(claims)
    first = cells[2]
    assert first[1].count(" → ") == 2 and first[1].endswith(claims[first[0]].split(" ")[0])
    assert first[2] == tool.short_cell(claims[first[0]], tool.converged(default))
    assert first[3] == "from 1,000"  # the interval's crossing, where the report gives it
    assert all(c[3] == "no" for c in cells[3:] if c[5] != "—")  # no crossing elsewhere
    assert cells[3][4] == "1 of 3 (500)" and first[4] == "none"  # the seeds that turned
    assert {c[5] for c in cells[2:]} <= {"still moving", "settled", "—"}
    untested = [c for c in cells[2:] if "untestable" in c[2]]
    assert untested and all(c[3] == c[4] == tool.MISSING for c in untested)
    assert max(len(row) for row in rows) <= tool.ROW_LIMIT
    assert "*interval across zero*: the first budget" in " ".join(lines)
    # a budget's cell worded verdict first still gives its Δ, signed
    opposite = "opposite at 500 steps (Holm p = 0.0128): `qq@enc` better by 2.46 (+1.27 to +3.65)"
    assert tool.estimate(opposite) == "+2.46"
    outside = (
        "outside ±1 BLEU at 4,000 steps (Holm p = 0.01): `nov@enc` worse than `qq@enc` by 1.91 ("
    )
    assert tool.estimate(outside) == "-1.91" and tool.estimate("—") == tool.MISSING


def test_the_readme_sets_each_claim_on_each_language_pair_beside_the_first():
    """Once a second pair's report is committed, the README gives each claim's cell on every
    pair, a replicating pair's followed by its replication's word at the largest budget."""
    tool = readme_tool()
    default = committed_summary(ROOT)
    claims = list(tool.claim_cells(default))
    assert tool.pairs({"default": default}) == []  # one pair: nothing to set beside it
    beside = "\n".join(
        [
            "\n## Beside `reports/default`\n",
            "The same claims ... *replicated* where the difference lies within ±1 BLEU by two "
            "one-sided tests ...\n",
            "| claim | cell | budget | Δ here | Δ there | difference (95% interval) | verdict |",
            "|---|---|---:|---|---|---|---|",
            f"| {claims[0]} | `qq@enc` at `small` | 500 | +1 | +2 | -1 (-2 to 0) | replicated |",
            f"| {claims[0]} | `qq@enc` at `small` | 1,000 | +1 | +3 | -2 (-4 to 0) | not "
            "resolved |",
            f"| {claims[2]} | `nov@enc` at `small` | 1,000 | -1 | +3 | -4 (-5 to -3) | outside "
            "the margin (Holm p = 0.01) |",
        ]
    )
    lines = tool.pairs({"default": default, "fr-en": default + beside})
    rows = [line for line in lines if line.startswith("|")]
    assert rows[0] == "| claim, on each pair | de→en | fr→en |"
    assert [row.split(" | ")[0] for row in rows[2:]] == [f"| {claim}" for claim in claims]
    assert rows[2].endswith(" unresolved†, open |")  # the largest budget's verdict
    assert rows[4].endswith(", differs |") and ", same" not in rows[3]
    assert max(len(row) for row in rows) <= tool.ROW_LIMIT
    assert "*same*, its Δ lies within ±1 BLEU of de→en's" in " ".join(lines)


def test_the_readmes_cells_give_the_estimate_and_one_word_of_the_legend():
    """A report's verdict, however it is worded, becomes the legend's one word; the estimate
    and interval stay; the mark follows the report's convergence and the cell's own note."""
    tool = readme_tool()
    cell = tool.short_cell
    resolved = "+1.52 (-0.16 to +3.19): not resolved (Holm p = 1): |Δ| < 2.20 BLEU undetectable"
    assert cell(resolved, True) == "+1.52 (-0.16 to +3.19) unresolved"
    assert cell(resolved, False) == "+1.52 (-0.16 to +3.19) unresolved†"
    assert cell("-2.07 (-2.92 to -1.23): replicated (not converged)", True) == (
        "-2.07 (-2.92 to -1.23) supported†"
    )
    opposite = "+3.24 (+1.49 to +4.99): opposite at 1,000 steps (Holm p = 0.0462): better"
    assert cell(opposite, True).endswith(" contradicted")
    outside = "+1.72 (+1.62 to +1.82): outside ±1 BLEU at 1,000 steps (Holm p = 0.00421)"
    assert cell(outside, True).endswith(" contradicted")
    assert cell("cannot be tested here: needs at least 3 model sizes", False) == "untestable"
    worth = "1.05× (0.91× to 1.19×): replicated (Holm p = 0.01)"
    assert cell(worth, True) == "1.05× (0.91× to 1.19×) supported"
    assert cell("above the law's range: outside ±0.2 at 1,000 steps (Holm p = 0)", True) == (
        "above the law's range contradicted"
    )


def test_the_readme_sets_each_claim_at_each_width_of_the_sizes_report(tmp_path):
    """Once the sizes report is committed, the README gives each claim's cell at each width
    (named by d_model from the report's config) at its largest budget, an untestable claim's
    one row in every width's column."""
    tool = readme_tool()
    default = committed_summary(ROOT)
    assert tool.widths({"default": default}, tmp_path) == []
    (tmp_path / "reports" / "sizes").mkdir(parents=True)
    config = {"sizes": {"tiny": {"d_model": 64}, "small": {"d_model": 128}}}
    (tmp_path / "reports" / "sizes" / "config.yaml").write_text(
        yaml.safe_dump(config, sort_keys=False)
    )
    claims = "\n".join(
        [
            "# sizes\n\nMade by the pipeline from `config.yaml`.\n\nThe budget.\n",
            "## The claims, point by point at the largest budget, 1,000 steps\n",
            "| claim | cell | test | seeds | estimate (95% interval) | Δ chrF | Δ loss | verdict |",
            "|---|---|---|---:|---|---|---|---|",
            "| QQ worse | `qq@enc` at `tiny` | t | 3 | -1.00 (-2.00 to -0.10) | | | replicated "
            "(Holm p = 0.01) |",
            "| QQ worse | `qq@enc` at `small` | t | 3 | +0.50 (-1.00 to +2.00) | | | not resolved "
            "(Holm p = 1) |",
            "| per weight | `noo@enc` at `tiny, small` | w | 3 | | | | cannot be tested here: "
            "no law |",
            "\n## The mechanism\n",
        ]
    )
    lines = tool.widths({"sizes": claims}, tmp_path)
    rows = [line for line in lines if line.startswith("|")]
    assert rows[0] == "| claim, at each width | d64 | d128 |"
    assert (
        rows[2]
        == "| QQ worse | -1.00 (-2.00 to -0.10) supported | +0.50 (-1.00 to +2.00) unresolved |"
    )
    assert rows[3] == "| per weight | untestable | untestable |"
    assert "at 1,000 steps;" in " ".join(lines)


def test_the_readme_counts_each_reports_claims_by_their_outcome():
    """Under the table, each report's line says how its claims fell, in the legend's words,
    read from the verdicts as the summary words them (an estimate first, or the verdict
    alone)."""
    tool = readme_tool()
    cells = {
        "a": "+1.19 (-0.45 to +2.83): not resolved (Holm p = 0.268): |Δ| < 2.16 undetectable",
        "b": "opposite at 500 steps: `qq@enc` better by 2.89 (+0.92 to +4.85)",
        "c": "outside ±1 BLEU at 1,000 steps: `nov@enc` better than `qq@enc` by 1.75",
        "d": "-2.07 (-2.92 to -1.23): replicated (not converged)",
        "e": "cannot be tested here: quality per parameter needs at least 3 model sizes",
        "f": "+0.27 (-0.80 to +1.33): not resolved at this power",
    }
    assert tool.tally(cells) == "6 claims: 1 supported, 2 contradicted, 2 unresolved, 1 untestable."
    assert tool.tally({}) == "no claims."
    assert tool.tally({"a": "no verdict (one seed)"}) == "1 claim: 1 other."


def test_another_familys_report_shows_its_measure_and_whether_the_conclusions_carry():
    """A report of another family (its claims in masked-token accuracy, beside the
    encoder-decoder's report) gets its column once committed, its measure in its line, and a
    row of how many of its claims carry at the largest budget both ran."""
    tool = readme_tool()
    default = committed_summary(ROOT)
    claims = list(tool.claim_cells(default))
    masked = default.replace("Δ BLEU vs", "Δ accuracy vs") + "\n".join(
        [
            "\n## Does it carry to another family? Beside `reports/default`\n",
            "The same claims (the same words) as tested in `reports/default` ...\n",
            "| claim | budget | here | there | Δ valid loss here | Δ valid loss there | carries? |",
            "|---|---:|---|---|---|---|---|",
            f"| {claims[0]} | 500 | `qq`: ... | `qq@enc`: ... | +0.1 | +0.2 | does not carry |",
            f"| {claims[0]} | 1,000 | `qq`: ... | `qq@enc`: ... | +0.1 | +0.2 | carries |",
            f"| {claims[1]} | 1,000 | `qq`: ... | `qq@enc`: ... | +0.1 | +0.2 | not decided |",
            f"| {claims[2]} | 1,000 | `nov`: ... | `nov@enc`: ... | +0.1 | +0.2 | carries |",
            "\n## The mechanism\n",
        ]
    )
    # the committed reports without a carries section of their own, and this one
    found = {
        name: text for name, text in tool.summaries().items() if "## Does it carry" not in text
    }
    found["encoder-only"] = masked
    lines = tool.sides(found)
    columns = [name for name, _, _ in tool.REPORTS if name in found]  # the pairs have none
    table = next(b for b in "\n".join(lines).split("\n\n") if b.startswith("| claim (Δ"))
    table = table.splitlines()
    assert table[0].endswith(" | encoder-only, CPU |")
    assert table[-1] == (
        "| the conclusions carry: verdicts as in enc-dec, CPU | "
        + " | ".join([tool.MISSING] * (len(columns) - 1))
        + " | 2 of 3 carry, 1 undecided† |"  # the default's runs had not converged
    )
    said = {line.split("]")[0][3:]: line for line in lines if line.startswith("- [")}
    assert "Δ in masked-token accuracy points;" in said["encoder-only, CPU"]
    assert "Δ in test BLEU;" in said["enc-dec, CPU"]
    assert "*carry*, both families decide it alike" in " ".join(lines)
    alone = "\n".join(tool.sides({"default": default}))  # beside no other family's report
    assert "verdicts as in" not in alone and "*carry*" not in alone  # no row, no legend
