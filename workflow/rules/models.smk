rule model_table:
    input:
        # the tokenizer's real vocabulary, which training uses (it may be smaller than asked)
        spm=f"{TOK}/spm.model",
    output:
        table=report(
            "results/{experiment}/models.tsv",
            caption="../report/models.rst",
            category="3. Tables",
            subcategory="Models",
        ),
    log:
        "logs/{experiment}/model_table.log",
    conda:
        "../../envs/train.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        # the settings the table depends on: a change of any reruns it, nothing else does
        models={
            key: config.get(key)
            for key in (
                "variants",
                "sizes",
                "match_params",
                "matched_variants",
                "model",
                "tokenizer",
            )
        },
    script:
        "../scripts/model_table.py"
