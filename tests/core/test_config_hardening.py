"""The config loader refuses alias bombs, huge files, wrong encodings, secrets in URLs and plain-HTTP Slack."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import ConfigError, load_settings, parse_settings
from core.settings.loading import MAX_CONFIG_BYTES

BRANDS = [{"name": "Kestrel", "query": "kestrel"}]

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8)
)


def _write(tmp_path: Path, data: bytes | str) -> Path:
    path = tmp_path / "brandmon.yaml"
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="aliases expand past"):
        load_settings(_write(tmp_path, BOMB))


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="aliases expand past"):
        load_settings(_write(tmp_path, "a: &a [*a]\n"))


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    text = "brands:\n  - {name: Kestrel, query: &q kestrel}\n  - {name: Orbital, query: *q, own: false}\n"
    assert load_settings(_write(tmp_path, text)).brands[0].query == "kestrel"


def test_file_over_one_megabyte_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="limited to 1024 KiB"):
        load_settings(_write(tmp_path, "#" * (MAX_CONFIG_BYTES + 1)))


@pytest.mark.parametrize(("data", "match"), [
    ("brands: []\n".encode("utf-16"), "UTF-16; save it as UTF-8"),
    ("brands: []\n".encode("utf-16-le"), "NUL bytes"),
    (b"brands: [caf\xe9]\n", "line 1: not UTF-8"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "NUL bytes"),
])
def test_wrong_encoding_is_one_clear_line(tmp_path: Path, data: bytes, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        load_settings(_write(tmp_path, data))
    assert "\n" not in str(info.value)


def test_yaml_error_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 2, column \d+: invalid YAML") as info:
        load_settings(_write(tmp_path, "a: 1\n b: [\n"))
    assert "\n" not in str(info.value)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, b"\xef\xbb\xbfbrands: [{name: Kestrel, query: kestrel}]\n"))
    assert settings.brands[0].name == "Kestrel"


@pytest.mark.parametrize("key", ["passwd", "db_pwd", "credentials", "smtp_password", "private_key"])
def test_secret_key_names_are_refused(key: str) -> None:
    with pytest.raises(ConfigError, match="secrets are never stored"):
        parse_settings({"slack": {key: "hunter2"}})


@pytest.mark.parametrize("url", ["postgresql://ana:hunter2@db/brandmon", "https://u:tok@hooks.example/x"])
def test_urls_with_credentials_are_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="secret"):
        parse_settings({"slack": {"queue_url": url}})
    with pytest.raises(ConfigError, match="secret"):
        parse_settings({"brands": [{"name": "K", "keywords": [url]}]})


@pytest.mark.parametrize("url", ["http://slack.com/api/", "http://10.0.0.5/api/", "ftp://x/", "slack.com/api"])
def test_slack_base_url_must_be_https(url: str) -> None:
    with pytest.raises(ConfigError, match="must be an https:// URL"):
        parse_settings({"brands": BRANDS, "slack": {"base_url": url}})


@pytest.mark.parametrize("url", ["https://slack.com/api/", "http://127.0.0.1:8999/api/", "http://localhost/api/",
                                 "http://[::1]:80/", "loopback"])
def test_slack_base_url_allows_https_and_loopback(url: str) -> None:
    assert parse_settings({"brands": BRANDS, "slack": {"base_url": url}}).slack.base_url == url
