"""Settings: environment over TOML, validation that names the setting, no silent unknowns, no secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from bounced.db.url import redact
from bounced.service.config import SETTINGS, ConfigError, Settings, load_settings, settings_markdown

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/ses-bounces"


def test_defaults_when_nothing_is_set() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.verify_signatures is True
    assert settings.http_addr == "127.0.0.1:8080"
    assert settings.http_max_connections == 256
    assert settings.queues() == {}


def test_environment_values_are_typed() -> None:
    settings = load_settings(
        {
            "BOUNCED_BOUNCE_QUEUE_URL": QUEUE,
            "BOUNCED_POLLERS_PER_QUEUE": "4",
            "BOUNCED_VERIFY_SIGNATURES": "false",
            "BOUNCED_SHUTDOWN_GRACE": "2.5",
            "BOUNCED_HTTP_MAX_CONNECTIONS": "64",
            "BOUNCED_ALLOWED_TOPIC_ARNS": "arn:aws:sns:us-east-1:1:a, arn:aws:sns:us-east-1:1:b",
        }
    )
    assert settings.queues() == {"bounce": QUEUE}
    assert settings.pollers_per_queue == 4
    assert settings.verify_signatures is False
    assert settings.shutdown_grace == 2.5
    assert settings.http_max_connections == 64
    assert settings.allowed_topic_arns == {"arn:aws:sns:us-east-1:1:a", "arn:aws:sns:us-east-1:1:b"}


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("BOUNCED_BATCH_SIZE", "11", "from 1 to 10"),
        ("BOUNCED_BATCH_SIZE", "ten", "whole number"),
        ("BOUNCED_WAIT_TIME_SECONDS", "-1", "from 0 to 20"),
        ("BOUNCED_VERIFY_SIGNATURES", "maybe", "true or false"),
        ("BOUNCED_BOUNCE_QUEUE_URL", "not a url", "SQS queue URL"),
        ("BOUNCED_ALLOWED_TOPIC_ARNS", "topic", "not an SNS topic ARN"),
        ("BOUNCED_HTTP_ADDR", "8080", "HOST:PORT"),
        ("BOUNCED_HTTP_MAX_CONNECTIONS", "0", "from 1 to 4096"),
        ("BOUNCED_HTTP_MAX_CONNECTIONS", "5000", "from 1 to 4096"),
        ("BOUNCED_LOG_LEVEL", "loud", "one of"),
        ("BOUNCED_SHUTDOWN_GRACE", "soon", "seconds"),
        ("BOUNCED_UNSIGNED_QUEUES", "bounce,bounces", "unknown queue 'bounces'"),
        ("BOUNCED_UNSIGNED_QUEUES", "retry", "unknown queue 'retry'"),
        ("BOUNCED_ALLOWED_ACCOUNTS", "12345678901", "'12345678901' is not an AWS account id"),
        ("BOUNCED_ALLOWED_ACCOUNTS", "123456789012,arn:aws:iam::1:root", "is not an AWS account id"),
    ],
)
def test_invalid_values_name_the_setting(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({name: value})
    message = str(raised.value)
    assert message.startswith(f"{name}: ")
    assert says in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("value", "queues"),
    [
        ("", set()),
        ("complaint", {"complaint"}),
        (" Bounce , delivery,", {"bounce", "delivery"}),
        ("bounce,complaint,delivery", {"bounce", "complaint", "delivery"}),
    ],
)
def test_unsigned_queues_are_named_by_their_short_names(value: str, queues: set[str]) -> None:
    assert load_settings({"BOUNCED_UNSIGNED_QUEUES": value}).unsigned_queues == queues
    assert Settings().unsigned_queues == frozenset()  # none unless the operator says so


def test_allowed_accounts_are_twelve_digit_ids(tmp_path: Path) -> None:
    value = " 123456789012, 210987654321 ,"
    assert load_settings({"BOUNCED_ALLOWED_ACCOUNTS": value}).allowed_accounts == {
        "123456789012",
        "210987654321",
    }
    assert Settings().allowed_accounts == frozenset()  # any account unless the operator says so
    path = tmp_path / "b.toml"
    path.write_text('allowed_accounts = ["123456789012"]\n', encoding="utf-8")
    assert load_settings({}, str(path)).allowed_accounts == {"123456789012"}


def test_unsigned_queues_from_toml_are_a_list(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text('unsigned_queues = ["complaint"]\n', encoding="utf-8")
    assert load_settings({}, str(path)).unsigned_queues == {"complaint"}
    path.write_text('unsigned_queues = ["complaints"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unsigned_queues: unknown queue 'complaints'"):
        load_settings({}, str(path))


def test_unknown_environment_setting_is_an_error() -> None:
    with pytest.raises(ConfigError, match="BOUNCED_POLLERS: unknown setting"):
        load_settings({"BOUNCED_POLLERS": "3"})


def test_other_environment_variables_are_ignored() -> None:
    assert load_settings({"PATH": "/bin", "AWS_REGION": "eu-west-1"}) == Settings()


def test_toml_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    path = tmp_path / "bounced.toml"
    path.write_text(
        f'bounce_queue_url = "{QUEUE}"\npollers_per_queue = 3\nbatch_size = 5\n'
        '[retry.windows]\nGeneral = ["1h"]\n',
        encoding="utf-8",
    )
    settings = load_settings({"BOUNCED_BATCH_SIZE": "7"}, str(path))
    assert settings.bounce_queue_url == QUEUE
    assert settings.pollers_per_queue == 3
    assert settings.batch_size == 7
    assert settings.retry == {"windows": {"General": ["1h"]}}


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "bounced.toml"
    path.write_text("pollers_per_queue = 9\n", encoding="utf-8")
    assert load_settings({"BOUNCED_CONFIG": str(path)}).pollers_per_queue == 9


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("polers_per_queue = 3\n", "polers_per_queue: unknown key"),
        ("pollers_per_queue = true\n", "pollers_per_queue: must be a whole number"),
        ("pollers_per_queue = \n", "not valid TOML"),
        ("retry = 3\n", "retry: must be a table"),
    ],
)
def test_bad_toml_names_the_key(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "bounced.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=says):
        load_settings({}, str(path))


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BOUNCED_CONFIG: cannot read"):
        load_settings({}, str(tmp_path / "absent.toml"))


def test_a_dsn_with_a_password_is_never_echoed() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({"BOUNCED_DATABASE_URL": "mysql://u:hunter2@db/x"})
    assert "hunter2" not in str(raised.value)
    assert redact("postgresql://u:hunter2@db:5433/x") == "postgresql://u:***@db:5433/x"
    assert redact("postgresql://u@db/x") == "postgresql://u@db/x"


def test_require_queues_names_the_missing_setting() -> None:
    with pytest.raises(ConfigError, match="BOUNCED_BOUNCE_QUEUE_URL: not set"):
        load_settings({}).require_queues()


def test_markdown_table_lists_every_setting() -> None:
    table = settings_markdown()
    for setting in SETTINGS:
        assert f"`{setting.env}`" in table


def test_pool_size_follows_the_pollers_unless_set() -> None:
    two_queues = {"BOUNCED_BOUNCE_QUEUE_URL": QUEUE, "BOUNCED_COMPLAINT_QUEUE_URL": QUEUE + "-c"}
    assert load_settings({**two_queues, "BOUNCED_POLLERS_PER_QUEUE": "16"}).pool_size() == 36
    assert load_settings({**two_queues, "BOUNCED_DATABASE_POOL_SIZE": "7"}).pool_size() == 7
    assert load_settings({"BOUNCED_DATABASE_POOL_SIZE": ""}).database_pool_size is None
    # The SES suppression-list sender holds a connection while it makes a pass.
    pushing = {**two_queues, "BOUNCED_POLLERS_PER_QUEUE": "16", "BOUNCED_SES_SUPPRESSION": "push"}
    assert load_settings(pushing).pool_size() == 37


def test_ses_suppression_is_off_unless_set_to_push() -> None:
    assert not load_settings({}).pushes_to_ses()
    assert load_settings({"BOUNCED_SES_SUPPRESSION": "PUSH"}).pushes_to_ses()
    assert not load_settings({"BOUNCED_SES_SUPPRESSION": "off"}).pushes_to_ses()
    with pytest.raises(ConfigError, match="BOUNCED_SES_SUPPRESSION: must be one of off, push"):
        load_settings({"BOUNCED_SES_SUPPRESSION": "sync"})


@pytest.mark.parametrize("blank", ["", " ", "\t \n"])
def test_a_blank_api_token_is_refused_rather_than_turning_authentication_off(blank: str) -> None:
    with pytest.raises(ConfigError, match="BOUNCED_API_TOKEN: is blank"):
        load_settings({"BOUNCED_API_TOKEN": blank})
    assert load_settings({"BOUNCED_API_TOKEN": "s3cret"}).api_token == "s3cret"
    assert load_settings({}).api_token is None


@pytest.mark.parametrize(
    "address",
    ["999.1.1.1:8080", "127.0.0.1:65536", "127.0.0.1:99999", "garbage", "::1:8080", "a b:80", "1.2.3:80"],
)
def test_listen_addresses_that_cannot_be_bound_are_refused(address: str) -> None:
    with pytest.raises(ConfigError, match="BOUNCED_HTTP_ADDR: must be HOST:PORT or \\[IPv6\\]:PORT"):
        load_settings({"BOUNCED_HTTP_ADDR": address})


@pytest.mark.parametrize(
    "address", ["[::1]:8080", "[::]:0", "0.0.0.0:8080", "localhost:8080", "db.internal:80"]
)
def test_listen_addresses_accepted(address: str) -> None:
    assert load_settings({"BOUNCED_HTTP_ADDR": address}).http_addr == address


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://u:se/cret@127.0.0.1:5432/x",  # an unencoded '/' in the password
        "postgresql://u:secret@127.0.0.1:99999/x",
        "postgresql://u:secret@[::1/x",
    ],
)
def test_a_malformed_dsn_is_refused_without_showing_any_of_it(dsn: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({"BOUNCED_DATABASE_URL": dsn})
    # The whole message is fixed text: no piece of the DSN (here, of its password) in it.
    assert str(raised.value) == (
        "BOUNCED_DATABASE_URL: must be a postgresql:// DSN with a numeric port from 0 to 65535 "
        "(percent-encode reserved characters in the user name and password)"
    )
