"""``--log-format json``: every line of the log one JSON object, with the
fields docs/deploy.rst documents for a run and a refusal; the default stays prose.

The real ``twistd -n pingu --logfile FILE`` and the real ping, on 127.0.0.1.
"""

from __future__ import annotations

import io
import json
import sys
import time

import pytest
from twisted.logger import Logger
from twisted.python import logfile
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from pingu import logs
from tests.harness.pingu import PinguServer

pytestmark = pytest.mark.e2e

#: The fields docs/deploy.rst's "Logs" promises on every object.
COMMON = {"log_namespace", "log_level", "log_time", "log_format", "level", "message"}


def converse(url: str, request: dict) -> list[dict]:
    got = []
    with connect(url, subprotocols=["pingu.json"]) as ws:
        ws.send(json.dumps(request))
        try:
            while True:
                got.append(json.loads(ws.recv(timeout=20)))
        except ConnectionClosed:
            return got


def test_json_logs_are_one_object_a_line_with_the_documented_fields(tmp_path):
    hostile = 'evil\n{"event": "forged"}\x1b[2J'
    server = PinguServer(tmp_path, args=("--log-format", "json"))
    with server:
        ran = converse(server.ws_url, {"target": "127.0.0.1", "count": 2, "interval": 0.2})
        converse(server.ws_url, {"target": hostile})
    assert ran[-1]["how"] == "completed"
    lines = server.log().splitlines()
    assert len(lines) > 3
    objects = [json.loads(line) for line in lines]  # each line parses on its own
    assert all(isinstance(o, dict) and COMMON <= o.keys() for o in objects), objects
    assert not [o for o in objects if o.get("event") == "forged"]

    (run,) = [o for o in objects if o.get("event") == "run_ended"]
    assert run["log_namespace"] == "pingu" and run["level"] == "info"
    assert run["tool"] == "ping" and run["mode"] == "json"
    assert run["target"] == run["address"] == "127.0.0.1"
    assert run["how"] == "completed" and run["exit_code"] == 0
    assert run["run"] == ran[0].get("run", run["run"]) and run["client"] == "127.0.0.1"
    assert isinstance(run["duration"], float) and run["duration"] > 0.1
    assert run["options"]["count"] == 2
    assert abs(run["log_time"] - time.time()) < 120
    assert run["message"].startswith(f"run {run['run']} client=127.0.0.1 tool=ping")

    (refused,) = [o for o in objects if o.get("event") == "refused"]
    assert refused["reason"] == "several-targets"  # a newline splits the target
    assert refused["client"] == "127.0.0.1" and refused["face"] == "websocket"
    assert "\n" not in refused["message"] and "\x1b" not in refused["message"]

    (listening,) = [o for o in objects if o.get("event") == "listening"]
    assert listening["where"] == f"tcp:{server.port}:interface=127.0.0.1"
    # twistd's own lines are objects too
    assert any(o["log_namespace"].startswith("twisted.") for o in objects)


def test_the_default_stays_prose(tmp_path):
    server = PinguServer(tmp_path)
    with server:
        converse(server.ws_url, {"target": "-x"})
    text = server.log()
    assert "pingu: refused 127.0.0.1: looks-like-option:" in text
    for line in text.splitlines():
        with pytest.raises(ValueError):
            json.loads(line)


# -- the observer, without a server ---------------------------------------------------


def test_a_failure_carries_its_traceback():
    out = io.StringIO()
    log = Logger(namespace="pingu", observer=logs.json_observer(out))
    try:
        raise ZeroDivisionError("nothing")
    except ZeroDivisionError:
        log.failure("pingu: it broke", event="error", client="192.0.2.1")
    (line,) = out.getvalue().splitlines()
    obj = json.loads(line)
    assert obj["event"] == "error" and obj["level"] == "critical"
    assert obj["message"] == "pingu: it broke"
    assert "ZeroDivisionError" in obj["traceback"]
    assert "log_logger" not in obj and "log_source" not in obj


def test_the_log_goes_where_twistds_would():
    assert logs.twistd_log_file({"nodaemon": True, "logfile": None}) is sys.stdout
    assert logs.twistd_log_file({"nodaemon": True, "logfile": "-"}) is sys.stdout
    assert logs.twistd_log_file(None) is sys.stdout


def test_a_logfile_is_twisteds_rotating_file(tmp_path):
    out = logs.twistd_log_file({"nodaemon": False, "logfile": str(tmp_path / "p.log")})
    try:
        assert isinstance(out, logfile.LogFile)
        logs.json_observer(out)({"log_format": "x {y}", "y": 1, "log_namespace": "pingu"})
        out.flush()
        assert json.loads((tmp_path / "p.log").read_text())["message"] == "x 1"
    finally:
        out.close()


@pytest.mark.parametrize(
    "options, says", [({"syslog": True}, "syslog"), ({"logger": print}, "--logger")]
)
def test_json_and_twistds_other_observers_are_refused(options, says):
    assert says in logs.check_twistd_options(options)
    assert logs.check_twistd_options({"syslog": False, "logger": None}) is None


def test_a_workers_event_is_relayed_whole_in_both_formats() -> None:
    """--workers: a worker's event, as a line of JSON, is written by the
    parent as the worker would have written it, fields reached by attribute
    or index included (their objects did not survive JSON, their text did)."""
    import io

    from twisted.logger import Logger, LogPublisher, textFileLogObserver

    from pingu import logs

    class Port:
        port = 8080

    sent = io.StringIO()
    Logger(namespace="pingu", observer=logs.json_observer(sent)).info(
        "on {p.port} {x[0]}", p=Port(), x=[5], event="listening"
    )
    as_json, as_text = io.StringIO(), io.StringIO()
    publisher = LogPublisher(logs.json_observer(as_json), textFileLogObserver(as_text))
    original = logs.globalLogPublisher
    logs.globalLogPublisher = publisher
    try:
        logs.relay(sent.getvalue().strip().encode(), 1)
        logs.relay(b"printed by a library", 1)
    finally:
        logs.globalLogPublisher = original
    first, second = (json.loads(line) for line in as_json.getvalue().splitlines())
    assert (first["message"], first["event"], first["worker"]) == ("on 8080 5", "listening", 1)
    assert first["log_format"] == "on {p.port} {x[0]}"
    assert (second["message"], second["worker"]) == ("printed by a library", 1)
    text = as_text.getvalue().splitlines()
    assert text[0].endswith("[pingu#info worker 1] on 8080 5"), text
