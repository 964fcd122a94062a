"""A compat32 `Message` whose header lookups go through a name index.

The stdlib `Message` answers every `get`, `get_all` and `in` by walking its
header list and lower-casing each name, and every `get_content_type`,
`get_param`, `get_filename` or `get_payload(decode=True)` goes through
those; its `get_params` splits the header again each time.  The walker asks
a dozen such questions of each part, so on a small message these walks
were the largest part of inspecting it.

`IndexedMessage` keeps an index (lower-cased name -> values, and each
header's split parameters) next to a snapshot of the header list it was
built from.  Every lookup first compares the list with the snapshot (a
pointer comparison per header when nothing changed), so any change made
through any path -- `__setitem__`, `replace_header`, `set_param`, or a direct
edit of `_headers` -- is seen and the index rebuilt: the answers are always
the stdlib's.
"""

from __future__ import annotations

from email.message import Message
from typing import Any

_MISSING = object()
_NOT_SPLIT = object()


class IndexedMessage(Message):
    """`email.message.Message` with indexed header lookups (same answers)."""

    _snapshot: list[tuple[str, Any]] | None = None
    _index: dict[str, list[tuple[str, Any]]]
    _params: dict[str, Any]

    def _indexed(self) -> dict[str, list[tuple[str, Any]]]:
        headers = self._headers  # type: ignore[attr-defined]
        if self._snapshot is None or self._snapshot != headers:
            index: dict[str, list[tuple[str, Any]]] = {}
            for name, value in headers:
                index.setdefault(name.lower(), []).append((name, value))
            self._index = index
            self._params = {}
            self._snapshot = list(headers)
        return self._index

    def get(self, name: str, failobj: Any = None) -> Any:
        found = self._indexed().get(name.lower())
        if not found:
            return failobj
        key, value = found[0]
        return self.policy.header_fetch_parse(key, value)

    __getitem__ = get

    def get_all(self, name: str, failobj: Any = None) -> Any:
        found = self._indexed().get(name.lower())
        if not found:
            return failobj
        fetch = self.policy.header_fetch_parse
        return [fetch(key, value) for key, value in found]

    def keep_body(self, body: bytes) -> None:
        """Keep `body` as the payload, as the bytes it is.

        Only for a body with no transfer encoding to undo: `get_payload
        (decode=True)` then hands these very bytes back ("payload may be
        bytes here", says the stdlib).  `set_payload` would decode them to a
        str, and `get_payload` encode that back, twice over (its surrogate
        check, then the bytes it returns): three copies of the body, the
        largest part of what parsing a large message holds in memory.  Such a
        message is never written out again (the generator wants a str), only
        read."""
        self._payload = body

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._indexed()

    def _get_params_preserve(self, failobj: Any, header: str) -> Any:
        self._indexed()
        key = header.lower()
        params = self._params.get(key, _NOT_SPLIT)
        if params is _NOT_SPLIT:
            params = super()._get_params_preserve(_MISSING, header)  # type: ignore[misc]
            self._params[key] = params
        if params is _MISSING:
            return failobj
        # A copy: get_params(unquote=False) hands this very list to its caller.
        return list(params)
