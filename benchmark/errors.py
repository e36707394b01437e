"""User-facing errors.

Every mistake a user can make (an unknown name, a bad value, a missing data folder, a
corrupt record) raises :class:`BenchmarkError` with a message of one line that says what
to do next. The CLI prints it as ``error: <message>`` and exits with status 2; nothing
finished is touched on the way out.
"""

from __future__ import annotations


class BenchmarkError(Exception):
    """An error caused by input, with a one-line message that names the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
