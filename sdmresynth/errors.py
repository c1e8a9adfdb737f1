"""The one exception type for problems a user can fix (bad input, bad model, bad path)."""


class UserError(Exception):
    """A problem with the user's input; the CLI prints its message on one line and exits non-zero."""
