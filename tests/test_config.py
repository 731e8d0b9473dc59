"""Configuration: one reader of the environment, `.env` under the real environment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imageserver.settings.config import PROJECT_ROOT
from imageserver.settings.config import SETTINGS
from imageserver.settings.config import Config
from imageserver.settings.config import ConfigError


def test_defaults_match_the_contract():
    config = Config.from_env({}, env_file=None)
    assert config.port == 7779
    assert config.host == "0.0.0.0"
    assert config.default_timeout_minutes == 0
    assert config.workers == 2
    assert config.trusted_proxies == 0
    assert config.url_ttl_seconds == 604800
    assert config.state_dir == str(PROJECT_ROOT / "output" / "state")


def test_real_environment_wins_over_dotenv(tmp_path: Path):
    env_file = tmp_path / ".env"
    env_file.write_text("IMAGE_SERVER_PORT=8001\nIMAGE_SERVER_TIMEOUT=5\n")
    config = Config.from_env({"IMAGE_SERVER_PORT": "8002"}, env_file=env_file)
    assert config.port == 8002
    assert config.default_timeout_minutes == 5


def test_env_file_can_be_redirected(tmp_path: Path):
    env_file = tmp_path / "other.env"
    env_file.write_text("IMAGE_SERVER_PORT=8123\n")
    config = Config.from_env({"IMAGE_SERVER_ENV_FILE": str(env_file)})
    assert config.port == 8123


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IMAGE_SERVER_PORT", "abc"),
        ("IMAGE_SERVER_PORT", "70000"),
        ("IMAGE_SERVER_TIMEOUT", "-1"),
        ("IMAGE_SERVER_WORKERS", "0"),
        ("IMAGE_SERVER_TIMEOUT_MODE", "sometimes"),
        ("IMAGE_SERVER_PUBLIC_URL", "ftp://x"),
        ("IMAGE_SERVER_HIDE_PATHS", "maybe"),
    ],
)
def test_bad_value_is_one_line_naming_the_variable(name: str, value: str):
    with pytest.raises(ConfigError) as caught:
        Config.from_env({name: value}, env_file=None)
    message = str(caught.value)
    assert name in message and "\n" not in message


def test_public_url_drops_trailing_slash():
    config = Config.from_env({"IMAGE_SERVER_PUBLIC_URL": "https://x.ngrok.app/"}, env_file=None)
    assert config.public_url == "https://x.ngrok.app"


def test_frame_base_dir_is_the_default_allowed_root(tmp_path: Path):
    config = Config.from_env({"FRAME_BASE_DIR": str(tmp_path)}, env_file=None)
    assert config.effective_allowed_roots == (str(tmp_path.resolve()),)
    both = Config.from_env(
        {"FRAME_BASE_DIR": str(tmp_path), "IMAGE_SERVER_ALLOWED_ROOTS": "/a:/b"}, env_file=None
    )
    assert both.effective_allowed_roots == ("/a", "/b")


def test_every_setting_is_documented_in_env_example():
    example = (PROJECT_ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z_]+)=", example, flags=re.MULTILINE))
    assert {setting.env for setting in SETTINGS} <= documented
