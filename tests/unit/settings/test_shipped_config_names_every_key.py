"""config/gateway.toml is "the commented example with every key" (README):
each key the settings take is named there, in its section, set or
commented out.  A black-box administrator found SMTP AUTH to the smarthost
(`upstream.username`/`password`), `queue.poll_interval` and `[policy.hold]`
in no document at all."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from gateway.settings import Settings

SHIPPED = Path(__file__).resolve().parents[3] / "config" / "gateway.toml"
# A section header, set or commented out: [server], # [routes.nhsmail], # [[users]].
_HEADER = re.compile(r"^[# ]*\[\[?([a-z_.]+)\]\]?", re.MULTILINE)
INTERNAL = {"config_dir"}  # where the file was read from, not a key


def _sections(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    headers = list(_HEADER.finditer(text))
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        found.setdefault(header.group(1), "")
        found[header.group(1)] += text[header.end():end]
    return found


def _model(annotation: typing.Any) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _keys(model: type[BaseModel], section: str) -> list[tuple[str, str]]:
    """(section, key) for every key of `model`'s sections, nested ones too."""
    found: list[tuple[str, str]] = []
    for name, field in model.model_fields.items():
        if name in INTERNAL:
            continue
        nested = _model(field.annotation)
        origin = typing.get_origin(field.annotation)
        if nested is None:
            found.append((section, name))
        elif origin is dict:
            found.append((f"{section}.{name}".strip("."), "*"))  # [routes.NAME]
        else:
            found.extend(_keys(nested, f"{section}.{name}".strip(".")))
    return found


def test_every_key_is_named_in_its_section() -> None:
    sections = _sections(SHIPPED.read_text(encoding="utf-8"))
    missing = []
    for section, key in _keys(Settings, ""):
        if key == "*":
            named = any(s.startswith(section + ".") for s in sections)
        else:
            named = re.search(rf"\b{key}\s*[=:]", sections.get(section, "")) is not None
        if not named:
            missing.append(f"{section}.{key}")
    assert missing == []


def test_the_example_still_loads() -> None:
    from gateway.settings import load_settings

    settings = load_settings(SHIPPED, environ={})
    assert settings.policy.hold.enabled is False and settings.upstream.username == ""
