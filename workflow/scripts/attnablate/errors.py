"""The one error a user sees for a bad setting."""


class ConfigurationError(ValueError):
    """A setting is invalid. The message names the setting (``key``) and what is allowed."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")
