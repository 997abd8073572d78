"""The reorder buffer's encoding: what a restart loads must be what was saved, in the format earlier versions
wrote (state databases outlive upgrades)."""

from __future__ import annotations

from types import MappingProxyType

import orjson

from pii_guard.detection import codec
from pii_guard.model import AccessEvent, EnrichedEvent, ObjectInfo, UserInfo

_EVENT = AccessEvent(
    id="e1", time_us=1_764_000_000_000_000, dataset="postgresql.pgaudit", action="read", outcome="success",
    user="bob", source_ip="10.20.0.5", source_port=5432, host="db01", object="db:crm.public.customers", rows=3,
    command="SELECT", statement="SELECT * FROM customers WHERE id = ?", original="line",
    record_ids=("c-1", "c-2"), fields={"process.pid": 7}, offset=42,
)  # fmt: skip
_ITEM = EnrichedEvent(_EVENT, UserInfo("bob", ("support", "staff"), "care", "active", True),
                      ObjectInfo(("personal",), True, False), "vpn")
# as the version before the tuple encoding wrote it (lists throughout)
_SAVED = (
    b'[["e1",1764000000000000,"postgresql.pgaudit","read","success","bob","10.20.0.5",5432,"db01",'
    b'"db:crm.public.customers",3,null,"SELECT","SELECT * FROM customers WHERE id = ?","line",null,["c-1","c-2"],'
    b'{"process.pid":7},42],["bob",["support","staff"],"care","active",true],[["personal"],true,false],"vpn"]'
)


def test_the_encoding_is_the_format_saved_before_and_loads_back_equal() -> None:
    saved = orjson.dumps(codec.encode(_ITEM))
    assert saved == _SAVED
    assert codec.decode(orjson.loads(_SAVED)) == _ITEM


def test_an_event_without_a_user_or_with_read_only_fields_encodes() -> None:
    item = _ITEM._replace(event=_EVENT._replace(fields=MappingProxyType({"url.path": "/x"})), user=None)
    back = codec.decode(orjson.loads(orjson.dumps(codec.encode(item))))
    assert back.user is None
    assert dict(back.event.fields) == {"url.path": "/x"}
    assert back.event.record_ids == ("c-1", "c-2")
