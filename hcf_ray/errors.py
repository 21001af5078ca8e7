"""Errors every layer may raise and the command line reports as one line."""


class UserError(Exception):
    """Bad input: reported as one line on stderr with exit code 2."""
