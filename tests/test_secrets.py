"""Write-only settings of monitors: masking them, keeping them when the mask comes back."""

from __future__ import annotations

import copy
from typing import Any, get_args

import msgspec
import pytest

from checker.registry import KINDS
from uptrack.errors import InvalidInput
from uptrack.monitors import parse_monitor
from uptrack.secrets import (
    MASK,
    is_sensitive_header,
    redact,
    restore,
    scrub,
    secret_values,
)

HTTP = KINDS["http"]
STORED: dict[str, Any] = {
    "method": "POST",
    "basic_auth": {"username": "probe", "password": "pa55-word"},
    "headers": {"X-Api-Key": "k3y-value", "cookie": "session=c00kie", "Accept": "text/plain"},
    "proxy": "http://squid:pr0xy-pass@proxy.internal:3128",
}
SECRETS = ("pa55-word", "k3y-value", "session=c00kie", "pr0xy-pass")


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "proxy-authorization",
        "COOKIE",
        "X-Api-Key",
        "api-key",
        "X-Auth-Token",
        "X-CSRF-Token",
        "X-Client-Secret",
        "X-Signing-Key",
        "X-Password",
    ],
)
def test_credential_headers_are_sensitive_in_any_case(name: str) -> None:
    assert is_sensitive_header(name)


@pytest.mark.parametrize("name", ["Accept", "User-Agent", "X-Request-Id", "Content-Type", "Host"])
def test_ordinary_headers_are_not_sensitive(name: str) -> None:
    assert not is_sensitive_header(name)


def test_redact_masks_every_secret_and_shows_everything_else() -> None:
    shown = redact(STORED, HTTP)

    assert shown == {
        "method": "POST",
        "basic_auth": {"username": "probe", "password": MASK},
        "headers": {"X-Api-Key": MASK, "cookie": MASK, "Accept": "text/plain"},
        "proxy": f"http://squid:{MASK}@proxy.internal:3128",
    }
    rendered = msgspec.json.encode(shown).decode()
    for secret in SECRETS:
        assert secret not in rendered


def test_redact_does_not_change_the_settings_it_is_given() -> None:
    stored = copy.deepcopy(STORED)
    redact(stored, HTTP)
    assert stored == STORED


def test_redact_masks_a_bearer_token() -> None:
    assert redact({"bearer_token": "t0ken"}, HTTP) == {"bearer_token": MASK}


def test_redact_leaves_unset_secrets_and_proxies_without_a_password_as_they_are() -> None:
    settings = {
        "bearer_token": None,
        "proxy": "http://proxy.internal:3128",
        "headers": {"Authorization": ""},
    }
    assert redact(settings, HTTP) == settings
    just_a_user = {"proxy": "http://squid@proxy.internal:3128"}
    assert redact(just_a_user, HTTP) == just_a_user


def test_a_password_with_an_at_sign_is_masked_whole() -> None:
    # As urlsplit reads it: the user info ends at the last '@', the user at the first ':'.
    shown = redact({"proxy": "http://squid:p@ss:w0rd@proxy.internal:3128/"}, HTTP)
    assert shown == {"proxy": f"http://squid:{MASK}@proxy.internal:3128/"}


WITHOUT_SECRETS = sorted(
    name
    for name, kind in KINDS.items()
    if not (kind.secret_fields or kind.secret_header_fields or kind.secret_url_fields)
)


def test_only_the_http_kind_has_secrets() -> None:
    assert WITHOUT_SECRETS == sorted(set(KINDS) - {"http"})


@pytest.mark.parametrize("name", WITHOUT_SECRETS)
def test_a_kind_without_secrets_shows_its_settings_unchanged(name: str) -> None:
    settings = {"assertions": ["response_time < 100"], "ip_version": 4}
    assert redact(settings, KINDS[name]) == settings


def test_sending_back_what_redact_showed_restores_every_stored_secret() -> None:
    assert restore(redact(STORED, HTTP), STORED, HTTP) == STORED


def test_restore_keeps_new_values_as_they_are_given() -> None:
    given = redact(STORED, HTTP)
    given["basic_auth"] = {"username": "probe", "password": "n3w-pass"}
    given["headers"]["X-Api-Key"] = "n3w-key"

    restored = restore(given, STORED, HTTP)

    assert restored["basic_auth"]["password"] == "n3w-pass"
    assert restored["headers"] == {
        "X-Api-Key": "n3w-key",
        "cookie": "session=c00kie",
        "Accept": "text/plain",
    }


def test_restore_does_not_change_the_settings_it_is_given() -> None:
    given = redact(STORED, HTTP)
    before = copy.deepcopy(given)
    restore(given, STORED, HTTP)
    assert given == before


def test_a_masked_header_is_restored_whatever_the_case_of_its_name() -> None:
    restored = restore({"headers": {"X-API-KEY": MASK}}, STORED, HTTP)
    assert restored == {"headers": {"X-API-KEY": "k3y-value"}}


def test_a_masked_proxy_password_is_kept_when_the_rest_of_the_url_changes() -> None:
    given = {"proxy": f"http://squid:{MASK}@proxy2.internal:8080"}
    restored = restore(given, STORED, HTTP)
    assert restored == {"proxy": "http://squid:pr0xy-pass@proxy2.internal:8080"}


def test_a_mask_with_no_stored_secret_in_its_place_is_refused_naming_each_field() -> None:
    given = {
        "bearer_token": MASK,
        "headers": {"X-Auth-Token": MASK},
        "proxy": f"http://squid:{MASK}@proxy.internal:3128",
    }
    with pytest.raises(InvalidInput) as caught:
        restore(given, {}, HTTP)

    errors = {e.field: e.message for e in caught.value.errors}
    assert errors == {
        "bearer_token": f"send the secret itself; {MASK} only keeps a stored one",
        "headers.X-Auth-Token": f"send the secret itself; {MASK} only keeps a stored one",
        "proxy": f"send the secret itself; {MASK} only keeps a stored one",
    }


def test_the_mask_of_an_ordinary_header_is_its_value() -> None:
    assert restore({"headers": {"Accept": MASK}}, {}, HTTP) == {"headers": {"Accept": MASK}}


def test_restore_leaves_malformed_settings_to_validation() -> None:
    given: dict[str, Any] = {"headers": ["not", "a", "map"], "basic_auth": "x", "proxy": 3}
    assert restore(given, STORED, HTTP) == given


def test_secret_values_lists_each_secret_and_the_decoded_proxy_password() -> None:
    settings = {**STORED, "proxy": "http://squid:pr0xy%40pass@proxy.internal:3128"}
    values = secret_values(settings, HTTP)
    assert sorted(values) == sorted(
        ["pa55-word", "k3y-value", "session=c00kie", "pr0xy%40pass", "pr0xy@pass"]
    )


def test_scrub_masks_secrets_but_not_ones_too_short_to_matter() -> None:
    message = "'pa55-word' is not a status code (nor is 'ab')"
    assert scrub(message, ["pa55-word", "ab"]) == f"'{MASK}' is not a status code (nor is 'ab')"


def test_a_validation_message_never_quotes_a_secret() -> None:
    raw = {
        "name": "api",
        "kind": "http",
        "target": "https://api.example/",
        "interval": 60,
        "bearer_token": "s3cr3t-t0ken",
        "accepted_status": ["s3cr3t-t0ken"],  # pasted in the wrong field
    }
    with pytest.raises(InvalidInput) as caught:
        parse_monitor(raw, KINDS)

    [error] = caught.value.errors
    assert error.field == "accepted_status"
    assert "s3cr3t-t0ken" not in error.message
    assert MASK in error.message


def _field_type(struct: type[msgspec.Struct], path: str) -> Any:
    """The type of a dotted settings path, stepping into optional nested structs."""
    *parents, last = path.split(".")
    for name in parents:
        info = {f.name: f for f in msgspec.structs.fields(struct)}[name]
        [struct] = [
            t
            for t in get_args(info.type) or (info.type,)
            if isinstance(t, type) and issubclass(t, msgspec.Struct)
        ]
    return {f.name: f for f in msgspec.structs.fields(struct)}[last].type


def _holds_text(annotation: Any) -> bool:
    return annotation is str or str in get_args(annotation)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_declares_secrets_among_its_own_text_settings(name: str) -> None:
    kind = KINDS[name]
    for path in (*kind.secret_fields, *kind.secret_url_fields):
        assert _holds_text(_field_type(kind.settings_type, path)), path
    for path in kind.secret_header_fields:
        assert _field_type(kind.settings_type, path) == dict[str, str], path


def test_the_http_kind_declares_its_credentials_secret() -> None:
    assert set(HTTP.secret_fields) == {"basic_auth.password", "bearer_token"}
    assert HTTP.secret_header_fields == ("headers",)
    assert HTTP.secret_url_fields == ("proxy",)
