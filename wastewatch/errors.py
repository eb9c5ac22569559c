"""The one root of wastewatch's own errors.

Every error the project raises on purpose derives from :class:`WastewatchError`.
Its message says what went wrong; its ``hint`` says what the user can do about it.
The CLI catches this root once (`wastewatch.cli.main`), prints one line and exits 2;
nothing decides what to do from an error's text, only from its class.

This module imports nothing of the project, so every layer, the contracts in
`wastewatch.schema` included, may derive from it.
"""

from __future__ import annotations

__all__ = ["WastewatchError"]


class WastewatchError(Exception):
    """Root of the project's errors: a message for a person, and a hint.

    ``hint`` is a short imperative ("run `wastewatch services up`"); subclasses set a
    class-level default, a raise site may pass a more specific one.
    """

    hint: str = ""

    def __init__(self, *args: object, hint: str | None = None) -> None:
        super().__init__(*args)
        if hint is not None:
            self.hint = hint

    def one_line(self) -> str:
        """The message and the hint on one line, as the CLI prints it."""
        text = " ".join(str(self).split()) or type(self).__name__
        if self.hint and self.hint not in text:
            text = f"{text} ({self.hint})"
        return text
