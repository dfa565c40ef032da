"""Plain-Python change events, so models can be observed without Qt."""

from __future__ import annotations

from typing import Any, Callable


class Event:
    """A named event a view can subscribe to; callbacks run synchronously."""

    def __init__(self, name: str):
        self.name = name
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> None:
        if callback not in self._callbacks:
            self._callbacks.append(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        if not self._callbacks:  # the common case while a graph is being built
            return
        for callback in list(self._callbacks):
            callback(*args)

    def __repr__(self) -> str:
        return f"Event({self.name!r}, {len(self._callbacks)} subscribers)"
