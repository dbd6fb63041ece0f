"""The one exception a user may meet: its message is a single actionable sentence, shown without a traceback."""


class HbragError(Exception):
    """A problem the user can fix (bad input, missing model, missing index); the CLI prints it and exits 1."""
