"""Errors a user can fix. The CLI prints them as one line, with no traceback."""


class BlipctlError(Exception):
    """A failure caused by the user's input; exits 1."""

    exit_code = 1


class ConfigError(BlipctlError):
    """A bad recipe, override or command-line usage; exits 2."""

    exit_code = 2
