rule aggregate:
    input:
        meta=run_paths("meta.json"),
        scores=run_paths("scores.json"),
        curves=run_paths("curves.tsv"),
        significance=significance_tables(),
        dynamics=run_paths("dynamics.tsv"),
        stable=stable_paths("curves.tsv"),
        stable_meta=stable_paths("meta.json"),
    output:
        runs=report(
            "results/{experiment}/runs.tsv",
            caption="../report/runs.rst",
            category="3. Tables",
            subcategory="Runs and tests",
        ),
        curves="results/{experiment}/curves.tsv",
        stable="results/{experiment}/stable.tsv",
        dynamics="results/{experiment}/dynamics.tsv",
        significance=report(
            "results/{experiment}/significance.tsv",
            caption="../report/significance.rst",
            category="3. Tables",
            subcategory="Runs and tests",
        ),
        comparison=report(
            "results/{experiment}/comparison.tsv",
            caption="../report/comparison.rst",
            category="3. Tables",
            subcategory="Verdicts",
        ),
    log:
        "logs/{experiment}/aggregate.log",
    conda:
        "../../envs/plot.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/aggregate.py"


rule claims:
    input:
        runs="results/{experiment}/runs.tsv",
        references=claim_references(),
    output:
        claims=report(
            "results/{experiment}/claims.tsv",
            caption="../report/claims.rst",
            category="3. Tables",
            subcategory="Verdicts",
        ),
        replication=report(
            "results/{experiment}/replication.tsv",
            caption="../report/replication.rst",
            category="3. Tables",
            subcategory="Verdicts",
        ),
        carries=report(
            "results/{experiment}/carries.tsv",
            caption="../report/carries.rst",
            category="3. Tables",
            subcategory="Verdicts",
        ),
    log:
        "logs/{experiment}/claims.log",
    conda:
        "../../envs/plot.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        # what the tables depend on beyond their inputs: the claims as stated, what they
        # replicate, and the corpus and tokenizer a reference's are compared with; as a
        # digest (claims are free text), the step reads them from the config
        settings=digest(
            {
                key: config.get(key)
                for key in ("claims", "replicates", "carries", "corpus", "tokenizer")
            }
        ),
    script:
        "../scripts/claims.py"


rule report:
    input:
        **({"baseline": f"{TOK}/masked_baseline.json"} if TASK is MASKED else {}),
        runs="results/{experiment}/runs.tsv",
        curves="results/{experiment}/curves.tsv",
        comparison="results/{experiment}/comparison.tsv",
        significance="results/{experiment}/significance.tsv",
        dynamics="results/{experiment}/dynamics.tsv",
        stable="results/{experiment}/stable.tsv",
        claims="results/{experiment}/claims.tsv",
        replication="results/{experiment}/replication.tsv",
        carries="results/{experiment}/carries.tsv",
        corpus=f"{DATA}/prepare.json",
        attention=run_paths("attention.npz", largest_budget=True),
    output:
        **{
            name: report(
                f"reports/{{experiment}}/{name}.png",
                caption=f"../report/{name}.rst",
                category="2. Figures",
                subcategory=theme,
            )
            for name, theme in FIGURES.items()
        },
        scaling_table=report(
            "results/{experiment}/scaling.tsv",
            caption="../report/scaling_table.rst",
            category="3. Tables",
            subcategory="Quality and size",
        ),
        summary="reports/{experiment}/summary.md",
        claims_csv="reports/{experiment}/claims.csv",
        config="reports/{experiment}/config.yaml",
        summary_html=report(
            "reports/{experiment}/summary.html",
            caption="../report/summary.rst",
            category="1. Summary",
        ),
        tables_html=report(
            "reports/{experiment}/tables.html",
            caption="../report/tables_html.rst",
            category="3. Tables",
            subcategory="Verdicts",
        ),
        latex=report(
            "reports/{experiment}/comparison.tex",
            caption="../report/comparison_tex.rst",
            category="3. Tables",
            subcategory="For papers",
        ),
        csv=report(
            "reports/{experiment}/comparison.csv",
            caption="../report/comparison_csv.rst",
            category="3. Tables",
            subcategory="For papers",
        ),
    log:
        "logs/{experiment}/report.log",
    conda:
        "../../envs/plot.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        # the report carries the config it was made from (its claims say what is tested):
        # changing the config redraws the report; the step reads the config itself
        config=CONFIG_DIGEST,
    script:
        "../scripts/report.py"
