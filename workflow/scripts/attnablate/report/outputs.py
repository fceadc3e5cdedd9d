"""The report's figures, in one place: the report rule declares them, the report step draws
them, the summary links them, and the HTML report files each under its theme."""

FIGURES = {  # file name (reports/<experiment>/<name>.png) -> its theme in the HTML report
    "budget_curves": "Answer over the training budget",  # the summary opens with it
    "bleu_vs_params": "Quality and size",
    "valid_loss": "Learning curves",
    "bleu_vs_tokens": "Learning curves",
    "scaling": "Quality and size",
    "dynamics": "Mechanism",
    "attention_maps": "Mechanism",
}
