"""Errors meant for the user: the message names the file or parameter and says what to do."""


class UserError(Exception):
    """A problem with the user's input or environment; the CLI prints it without a traceback."""
