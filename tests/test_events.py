"""The event vocabulary is one definition: the page's copy is generated from it."""

from pathlib import Path

from pingu import events

WEB = Path(__file__).resolve().parent.parent / "web"


def test_page_vocabulary_is_generated_from_events() -> None:
    # Regenerate with: python -m pingu.events > web/vocabulary.js
    assert (WEB / "vocabulary.js").read_text() == events.javascript()


def test_uris_are_built_from_one_prefix() -> None:
    assert events.node_uri("alpha", "start") == "pingu.alpha.start"
    assert events.run_topic("alpha", "1-ab") == "pingu.alpha.run.1-ab"
    assert events.NODES_PROCEDURE.startswith(events.WAMP_PREFIX + ".")
    assert events.JOINED_TOPIC.startswith(events.NODES_PROCEDURE + ".")
