"""Logging: JSON lines with run context, human text, and no secrets in either."""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Any

import pytest

from shipper.logs import emit_raw, setup_logging

SECRET_FIELDS = {
    "password": "hunter2-pw", "db_password": "pw-2", "Password": "pw-3",
    "token": "tok-1", "session_token": "tok-2", "x_amz_security_token": "tok-3",
    "authorization": "AWS4-HMAC-SHA256 Credential=sig", "Authorization_Header": "auth-2",
    "aws_secret_access_key": "wJalrXUtnFEMI", "client_secret": "cs-1",
    "credentials": "cred-1", "signature": "sig-1",
}


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = stream.getvalue().splitlines()
    docs = [json.loads(line) for line in lines]
    assert all(isinstance(d, dict) for d in docs)
    return docs


@pytest.fixture
def log() -> logging.Logger:
    return logging.getLogger("shipper")


def test_json_format_writes_one_object_per_line_with_run_context(log: logging.Logger) -> None:
    stream = io.StringIO()
    assert setup_logging("run-42", "json", "INFO", stream) == "json"
    log.info("file shipped", extra={"instance": "db-1", "bytes": 1234})
    log.warning("second line")
    docs = json_lines(stream)
    assert len(docs) == 2
    assert docs[0]["run_id"] == "run-42"
    assert docs[0]["level"] == "INFO"
    assert docs[0]["message"] == "file shipped"
    assert docs[0]["instance"] == "db-1"
    assert docs[0]["bytes"] == 1234
    assert "time" in docs[0]
    assert (docs[1]["level"], docs[1]["message"], docs[1]["run_id"]) == \
        ("WARNING", "second line", "run-42")


def test_json_message_with_newlines_stays_on_one_line(log: logging.Logger) -> None:
    stream = io.StringIO()
    setup_logging("r", "json", "INFO", stream)
    log.error("line one\nline two", extra={"file": "a\nb"})
    assert stream.getvalue().count("\n") == 1
    assert json_lines(stream)[0]["message"] == "line one\nline two"


def test_child_loggers_use_the_same_handler(log: logging.Logger) -> None:
    stream = io.StringIO()
    setup_logging("r", "json", "INFO", stream)
    logging.getLogger("shipper.instance_job").info("from a child")
    assert json_lines(stream)[0]["message"] == "from a child"


def test_level_filters_lower_records(log: logging.Logger) -> None:
    stream = io.StringIO()
    setup_logging("r", "json", "WARNING", stream)
    log.info("hidden")
    log.debug("hidden too")
    log.error("shown")
    assert [d["message"] for d in json_lines(stream)] == ["shown"]


def test_debug_level_shows_debug(log: logging.Logger) -> None:
    stream = io.StringIO()
    setup_logging("r", "json", "DEBUG", stream)
    log.debug("details")
    assert json_lines(stream)[0]["level"] == "DEBUG"


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_secret_looking_fields_are_dropped(fmt: str, log: logging.Logger) -> None:
    stream = io.StringIO()
    setup_logging("r", fmt, "INFO", stream)
    log.info("calling AWS", extra={**SECRET_FIELDS, "instance": "db-1", "tokens_seen": 3})
    out = stream.getvalue()
    for name, value in SECRET_FIELDS.items():
        assert value not in out, name
    assert "db-1" in out
    if fmt == "json":
        doc = json_lines(stream)[0]
        assert not set(SECRET_FIELDS) & set(doc)
        assert doc["instance"] == "db-1"


def test_text_format_is_human_readable(log: logging.Logger) -> None:
    stream = io.StringIO()
    assert setup_logging("run-42", "text", "INFO", stream) == "text"
    log.info("file shipped", extra={"instance": "db-1", "bytes": 1234})
    log.warning("plain")
    lines = stream.getvalue().splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d INFO    file shipped  instance=db-1  bytes=1234",
                        lines[0]), lines[0]
    assert re.fullmatch(r"\d\d:\d\d:\d\d WARNING plain", lines[1]), lines[1]
    assert "run-42" not in stream.getvalue()
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[0])


def test_auto_format_is_json_when_not_a_terminal() -> None:
    assert setup_logging("r", "auto", "INFO", io.StringIO()) == "json"


def test_auto_format_is_text_on_a_terminal(log: logging.Logger) -> None:
    stream = TtyStream()
    assert setup_logging("r", "auto", "INFO", stream) == "text"
    log.info("hello")
    assert re.fullmatch(r"\d\d:\d\d:\d\d INFO    hello\n", stream.getvalue())


def test_setting_up_twice_replaces_the_handler(log: logging.Logger) -> None:
    first, second = io.StringIO(), io.StringIO()
    setup_logging("r1", "json", "INFO", first)
    setup_logging("r2", "json", "INFO", second)
    log.info("once")
    assert first.getvalue() == ""
    docs = json_lines(second)
    assert len(docs) == 1 and docs[0]["run_id"] == "r2"


def test_shipper_records_do_not_reach_the_root_logger(
    log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    setup_logging("r", "json", "INFO", io.StringIO())
    with caplog.at_level(logging.INFO):
        log.info("not for root")
    assert "not for root" not in caplog.text


def test_botocore_and_urllib3_are_quieted() -> None:
    setup_logging("r", "json", "DEBUG", io.StringIO())
    assert logging.getLogger("botocore").level == logging.WARNING
    assert logging.getLogger("urllib3").level == logging.WARNING


def test_emit_raw_writes_the_line_verbatim() -> None:
    stream = io.StringIO()
    emit_raw('{"_aws": {}}', stream)
    assert stream.getvalue() == '{"_aws": {}}\n'
