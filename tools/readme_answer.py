"""Copy the answer from reports/default/summary.md into the README, between its answer
markers: the budget line, the claims table and the mechanism, as the pipeline wrote them.

    .venv/bin/python tools/readme_answer.py      # after ./run.sh has regenerated the report

Nothing in the README's answer is written by hand; tests/test_style.py checks that every line
of it stands in the committed summary.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- answer:begin -->", "<!-- answer:end -->"
SECTIONS = ("## The claims, point by point", "## The mechanism")


def answer(summary: str) -> list[str]:
    """The first paragraph after the title, then the bodies of the sections named in
    SECTIONS (their headings are the summary's, not the README's)."""
    blocks = summary.split("\n## ")
    first = blocks[0].split("\n\n")[1].strip()  # the title, then the budget or convergence line
    lines = [first, ""]
    for block in blocks[1:]:
        heading, _, body = block.partition("\n")
        if f"## {heading}" in SECTIONS:
            lines += [*body.strip("\n").splitlines(), ""]
    return lines


def main() -> None:
    summary = (ROOT / "reports" / "default" / "summary.md").read_text(encoding="utf-8")
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    head, rest = readme.split(BEGIN)
    _, tail = rest.split(END)
    body = "\n".join(answer(summary)).strip("\n")
    readme_path.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}", encoding="utf-8")
    print(f"README answer: {len(body.splitlines())} lines from reports/default/summary.md")


if __name__ == "__main__":
    main()
