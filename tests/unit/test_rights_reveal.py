"""The console's reveal: recorded before anything is returned, once per id, with a reason, and not
a data-subject request."""

from __future__ import annotations

import json

import pytest

from services.rights.domain import Reveal
from shared.app import event_attributes, event_type
from shared.errors import InvalidArgument
from tests.unit.test_rights_rules import rights  # noqa: F401 - the fixture


def test_a_reveal_is_recorded_with_caller_reason_and_count_and_shows_the_data(rights) -> None:  # noqa: F811
    app, _ = rights
    export = json.loads(app.reveal("rv-1", "acct-generated-9", "console", "ticket T-1"))
    assert export["interactions"][0]["content"]["prompt"] == "generated prompt"
    events = list(app.events.get(Reveal.create_id("rv-1")))
    assert [event_type(e) for e in events] == ["SubjectDataRevealed"]
    attrs = event_attributes(events[0])
    assert attrs["caller"] == "console" and attrs["reason"] == "ticket T-1" and attrs["records"] == 1
    assert attrs["subject_ref"] == app.resolve_subject("acct-generated-9")
    assert "acct-generated-9" not in json.dumps(attrs)
    app.reveal("rv-1", "acct-generated-9", "console", "ticket T-1")  # a retry records nothing more
    assert len(list(app.events.get(Reveal.create_id("rv-1")))) == 1
    assert app.list(include_closed=True) == []  # a look is not a data-subject request


def test_a_reveal_without_a_reason_is_refused(rights) -> None:  # noqa: F811
    app, _ = rights
    with pytest.raises(InvalidArgument):
        app.reveal("rv-2", "acct-generated-9", "console", "")
    assert not list(app.events.get(Reveal.create_id("rv-2")))
