"""The explicit list of recognizers the engine runs, built at start-up.

Nothing registers itself on import: `build_registry()` names every built-in
recognizer, and a deployment that wants another one registers an instance
before building the engine.  Registering something that is not a recognizer,
or a second recognizer with the same name, fails at once rather than at the
first message.
"""

from __future__ import annotations

from collections.abc import Iterator

from gateway.detect.recognizer import Pattern, Recognizer
from gateway.detect.recognizers import RECOGNIZERS
from gateway.model import InformationType

__all__ = ["Registry", "build_registry"]


class Registry:
    """An ordered set of recognizer instances, unique by name."""

    def __init__(self) -> None:
        self._recognizers: dict[str, Recognizer] = {}

    def register(self, recognizer: object) -> None:
        if not isinstance(recognizer, Recognizer):
            raise TypeError(f"not a Recognizer instance: {recognizer!r}")
        for attribute in ("name", "info_type", "PATTERNS"):
            if not hasattr(recognizer, attribute):
                raise TypeError(f"{type(recognizer).__name__} does not set {attribute}")
        if not isinstance(recognizer.info_type, InformationType):
            raise TypeError(f"{recognizer.name}: info_type must be an InformationType")
        if not recognizer.PATTERNS or not all(
            isinstance(pattern, Pattern) for pattern in recognizer.PATTERNS
        ):
            raise TypeError(f"{recognizer.name}: PATTERNS must be a non-empty tuple of Pattern")
        if recognizer.name in self._recognizers:
            raise ValueError(f"a recognizer named {recognizer.name!r} is already registered")
        self._recognizers[recognizer.name] = recognizer

    def __iter__(self) -> Iterator[Recognizer]:
        return iter(self._recognizers.values())

    def __len__(self) -> int:
        return len(self._recognizers)

    def names(self) -> tuple[str, ...]:
        return tuple(self._recognizers)


def build_registry() -> Registry:
    """A registry holding one instance of every built-in recognizer."""
    registry = Registry()
    for recognizer_class in RECOGNIZERS:
        registry.register(recognizer_class())
    return registry
