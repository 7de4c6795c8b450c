"""User-facing errors: bad config or bad input that stops a run before it spends anything."""


class RecycleError(Exception):
    """An error the user can fix; the CLI prints it as one line, without a traceback."""


class ConfigError(RecycleError):
    """A config key or value is wrong; the message names the key and the fix."""


class InputError(RecycleError):
    """An input path is missing, empty or of an unknown format."""
