"""The one exception type for bad user input."""


class UsageError(ValueError):
    """Bad input from the user (flag, recipe, file). The CLI prints its message as one line and
    exits with code 2, without a traceback. The message names the argument and the fix."""


class TrainingDiverged(RuntimeError):
    """A loss or gradient became NaN or inf; training stopped and the last good checkpoint is kept.
    The CLI prints the message as one line and exits with code 1."""
