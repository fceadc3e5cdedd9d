rule model_table:
    output:
        table=report(
            "results/{experiment}/models.tsv",
            caption="../report/models.rst",
            category="Models",
        ),
    log:
        "logs/{experiment}/model_table.log",
    conda:
        "../../envs/train.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/model_table.py"
