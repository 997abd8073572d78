"""Every event the golden samples of every parser produce is accepted by the template's mapping (no type
conflicts, nothing dead-lettered) and keeps its fields."""

from __future__ import annotations

import orjson

from pii_guard.model import AccessEvent, EnrichedEvent, ObjectInfo, UserInfo, ecs_document
from pii_guard.store import elastic_mapping as em
from tests.goldens import all_cases, parse_case
from tests.store_es.conftest import StoreFactory
from tests.store_es.fake_es import FakeElasticsearch


def _leaves(node: dict[str, object], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in node.items():
        if isinstance(value, dict):
            out |= _leaves(value, f"{prefix}{key}.")
        else:
            out.add(prefix + key)
    return out


def test_every_sample_event_is_stored_and_its_own_fields_are_mapped(make_store: StoreFactory,
                                                                   fake_es: FakeElasticsearch) -> None:
    events = []
    for case in all_cases():
        for item in parse_case(case):
            if isinstance(item, AccessEvent):
                user = UserInfo(item.user, ("support",), "Customer Care") if item.user else None
                events.append(EnrichedEvent(item, user, ObjectInfo(("contact",), True, True), "office"))
    assert len(events) > 100
    store = make_store()
    result = store.write(events, [])
    assert result.dead_letters == 0, store.count_dead_letters()
    assert result.stored == len({e.event.id for e in events})
    stored = fake_es.documents()
    for item in events:
        assert stored[item.event.id] == orjson.loads(orjson.dumps(ecs_document(item)))
        own = _leaves(ecs_document(item._replace(event=item.event._replace(fields={}))))
        assert own <= set(em.field_types()), own - set(em.field_types())
