"""Settings: declared once, read from the environment, refused clearly when wrong."""
from __future__ import annotations

import pytest

from config import SETTINGS, ConfigError, load_config


def test_every_setting_has_a_default_and_help():
    config = load_config(environ={})
    assert set(config) == {setting.name for setting in SETTINGS}
    assert all(setting.help.strip() for setting in SETTINGS)
    assert config["ONGOING_CALLS_ROW_CAP"] == 500 and config["DATABASE_URL"] is None


def test_the_environment_then_overrides_win():
    config = load_config({"ACTIVITY_POLL_SECONDS": 30},
                         environ={"ACTIVITY_POLL_SECONDS": "20", "ONGOING_CALLS_POLL_SECONDS": "2", "SIMULATE": "no"})
    assert config["ACTIVITY_POLL_SECONDS"] == 30
    assert config["ONGOING_CALLS_POLL_SECONDS"] == 2 and config["SIMULATE"] is False


@pytest.mark.parametrize("name, value", [("STATEMENT_TIMEOUT_MS", "-5"), ("SIMULATE", "maybe"),
                                         ("ONGOING_CALLS_ROW_CAP", "lots"), ("PHONE_REGION", "Germany")])
def test_a_bad_value_names_the_setting(name, value):
    with pytest.raises(ConfigError, match=name):
        load_config(environ={name: value})


def test_an_unknown_override_is_refused():
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config({"DATABSE_URL": "sqlite://"}, environ={})


def test_the_settings_page_documents_every_setting():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "settings.md").read_text()
    missing = [setting.name for setting in SETTINGS if f"| `{setting.name}` |" not in page]
    assert missing == []


def test_a_phone_region_is_a_country_code_in_capitals():
    assert load_config(environ={"PHONE_REGION": "de"})["PHONE_REGION"] == "DE"
    assert load_config(environ={})["PHONE_REGION"] == ""


def test_the_suite_keeps_its_files_out_of_the_checkout():
    """Tests, and the servers and commands they start, write into a folder of the run (tests/conftest.py)."""
    import os
    from pathlib import Path

    import config

    checkout = Path(__file__).resolve().parents[2]
    assert config.INSTANCE_PATH == Path(os.environ["SWITCHBOARD_INSTANCE_PATH"])
    assert not config.INSTANCE_PATH.is_relative_to(checkout)
