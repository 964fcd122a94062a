"""[web] keys: validation of the console's settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.settings import Settings, WebSettings

HASH = "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


def web(**values: Any) -> WebSettings:
    return Settings.model_validate({"web": values}).web


def test_defaults_keep_the_console_off() -> None:
    settings = Settings()
    assert settings.web.listen == ""
    assert settings.web.session_timeout == timedelta(minutes=30)
    assert settings.web.cookie_secure == "auto"


def test_all_keys() -> None:
    value = web(listen="127.0.0.1:8025", session_timeout="15m", cookie_secure="always",
                trusted_header="X-Remote-User", trusted_proxies=["10.0.0.0/8"],
                session_secret="s" * 40,
                users=[{"name": "ann", "password_hash": HASH, "role": "auditor"},
                       {"name": "sso-only", "role": "approver"}])
    assert value.session_timeout == timedelta(minutes=15)
    assert "s" * 40 not in repr(value)  # the secret never shows in a repr


@pytest.mark.parametrize("values", [
    {"listen": "nonsense"},
    {"trusted_header": "X-Remote-User"},  # no proxies to trust
    {"trusted_proxies": ["not-a-network"], "trusted_header": "X-Remote-User"},
    {"users": [{"name": "ann", "role": "auditor"}]},  # no hash and no proxy
    {"users": [{"name": "ann", "password_hash": "plain", "role": "auditor"}]},
    {"users": [{"name": "ann", "password_hash": HASH, "role": "superuser"}]},
    {"users": [{"name": "ann", "password_hash": HASH, "role": "auditor"},
               {"name": "ann", "password_hash": HASH, "role": "admin"}]},
    {"cookie_secure": "sometimes"},
    {"session_timeout": "soon"},
    {"colour": "blue"},
])
def test_invalid(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        web(**values)
