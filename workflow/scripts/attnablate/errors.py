"""The one error a user sees for a bad setting."""


class ConfigurationError(ValueError):
    """A setting is invalid. The message names the setting (``key``) and what is allowed."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


class DamagedFileError(ValueError):
    """A file a job wrote no longer reads as what it was (cut short, edited by hand). The
    message names the file and the way out: delete it, and the next invocation redoes the job
    that writes it."""

    def __init__(self, path, problem: str):
        self.path = path
        super().__init__(
            f"{path}: {problem}. Delete it and run the same command again: the job that "
            "writes it is redone"
        )
