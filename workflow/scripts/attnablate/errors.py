"""The one error a user sees for a bad setting."""


class ConfigurationError(ValueError):
    """A setting is invalid. The message names the setting (``key``) and what is allowed."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


class DamagedFileError(ValueError):
    """A file a job wrote no longer reads as what it was (cut short, edited by hand). The
    message names the file and the way out: the job that writes it redone by ``--forcerun``
    (deleting the file alone is not enough: Snakemake does not redo a job whose outputs'
    readers are up to date)."""

    def __init__(self, path, problem: str):
        self.path = path
        super().__init__(
            f"{path}: {problem}. Redo the job that writes it: add --forcerun {path} to the "
            "command (./run.sh or snakemake)"
        )
