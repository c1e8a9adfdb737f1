"""The one exception type for problems a user can fix (bad input, bad model, bad path)."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input; the CLI prints its message on one line and exits non-zero.

    The message speaks in the library's terms; `parameters` names the settings (keyword arguments) the user can
    change to get on, which the command line shows as its options (lr -> --lr).
    """

    def __init__(self, message: str, parameters: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.parameters = parameters
