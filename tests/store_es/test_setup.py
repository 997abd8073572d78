"""Start-up: the index template, mappings and ILM policy sent to the cluster, authentication and TLS options,
and clear errors when the cluster is unreachable, refuses the credentials or is not Elasticsearch."""

from __future__ import annotations

import base64
import logging
import socket
import ssl
from pathlib import Path

import pytest

from pii_guard.config.models import Config
from pii_guard.config.secrets import Secret
from pii_guard.errors import StoreError
from pii_guard.store import elastic_mapping as em
from pii_guard.store.build import open_event_store
from pii_guard.store.elastic import ElasticsearchEventStore
from tests.store_es.conftest import StoreFactory, TlsFiles
from tests.store_es.fake_es import CLIENT_MAJOR, FakeElasticsearch, Fault, api_key
from tests.store_es.helpers import event

KEY = api_key()
PASSWORD = "correct horse battery staple"


@pytest.fixture
def secured() -> FakeElasticsearch:
    fake = FakeElasticsearch(api_keys=[KEY], users={"pii-guard": PASSWORD}).start()
    yield fake  # type: ignore[misc]
    fake.stop()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_index_template_carries_the_mappings(make_store: StoreFactory, fake_es: FakeElasticsearch) -> None:
    make_store()
    (put,) = fake_es.requests_to("/_index_template/pii-guard-events", "PUT")
    body = put.json()
    assert body["index_patterns"] == ["pii-guard-events-*"]
    assert body["priority"] == 200
    assert body["version"] == em.TEMPLATE_VERSION
    assert body["_meta"]["managed_by"] == "pii-guard"
    settings = body["template"]["settings"]["index"]
    assert settings == {"number_of_shards": 1, "codec": "best_compression"}  # no retention: no lifecycle
    mappings = body["template"]["mappings"]
    assert mappings["dynamic"] is False
    assert mappings["date_detection"] is False
    props = mappings["properties"]
    assert props["@timestamp"] == {"type": "date_nanos"}
    assert props["source"]["properties"]["ip"] == {"type": "ip"}
    assert props["source"]["properties"]["port"] == {"type": "long"}
    assert props["user"]["properties"]["name"] == {"type": "keyword"}
    assert props["pii"]["properties"]["categories"] == {"type": "keyword"}
    assert props["pii"]["properties"]["rows"] == {"type": "long"}
    assert props["pii"]["properties"]["honeytoken"] == {"type": "boolean"}
    assert props["pii"]["properties"]["statement"] == {
        "type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 8191}}}
    assert props["event"]["properties"]["original"] == {"type": "match_only_text"}
    assert fake_es.requests_to("/_ilm/policy/pii-guard-events") == []


def test_every_field_an_event_document_has_is_mapped(make_store: StoreFactory) -> None:
    types = em.field_types()
    doc = em.properties()
    assert types["pii.statement.keyword"] == "keyword"

    def leaves(node: dict[str, object], prefix: str = "") -> set[str]:
        out: set[str] = set()
        for key, value in node.items():
            if isinstance(value, dict):
                out |= leaves(value, f"{prefix}{key}.")
            else:
                out.add(prefix + key)
        return out

    from pii_guard.model import ecs_document

    written = leaves(ecs_document(event(1, fields={})))
    assert written <= set(types), written - set(types)
    assert set(doc) >= {"@timestamp", "event", "user", "source", "host", "pii", "log"}


def test_retention_installs_an_ilm_policy_that_deletes_whole_days(make_store: StoreFactory,
                                                                  fake_es: FakeElasticsearch) -> None:
    store = make_store(retention="30d")
    policy = fake_es.policies["pii-guard-events"]["policy"]
    # a day's index is deleted once its last event is 30 days old: its age counts from the start of the day
    assert policy["phases"]["delete"] == {"min_age": "31d", "actions": {"delete": {}}}
    template = fake_es.templates["pii-guard-events"]["template"]
    assert template["settings"]["index"]["lifecycle"] == {"name": "pii-guard-events", "parse_origination_date": True}
    # the fake refuses index names ILM cannot parse the day from, as Elasticsearch does
    store.write([event(1)], [])
    (index,) = fake_es.indices.values()
    assert index.settings["index.lifecycle.name"] == "pii-guard-events"
    assert index.name == "pii-guard-events-2026.11.18"


def test_ilm_ages() -> None:
    assert em.ilm_age(7 * em._DAY_US) == "8d"
    assert em.ilm_age(36 * 3_600_000_000) == "60h"
    assert em.ilm_age(90 * 1_000_000) == "86490s"


def test_the_created_index_has_the_template_mapping(make_store: StoreFactory) -> None:
    store = make_store(index_prefix="audit.pii")
    store.write([event(1)], [])
    index = store.index_for(event(1).event.time_us)
    assert index == "audit.pii-events-2026.11.18"
    assert store.search_index == "audit.pii-events-*"
    mapping = store.client.indices.get_mapping(index=index)[index]["mappings"]
    assert mapping["properties"]["source"]["properties"]["ip"]["type"] == "ip"
    assert mapping["dynamic"] in (False, "false")


def test_open_event_store_builds_it_from_config_with_the_key_from_a_file(fake_es: FakeElasticsearch,
                                                                        tmp_path: Path) -> None:
    secured = FakeElasticsearch(api_keys=[KEY]).start()
    try:
        (tmp_path / "es.key").write_text(KEY + "\n")
        config = Config.model_validate({"state_dir": "state", "store": {
            "type": "elasticsearch", "hosts": [secured.url], "api_key_file": "es.key"}, "base_dir": tmp_path})
        store = open_event_store(config)
        assert isinstance(store, ElasticsearchEventStore)
        assert store.write([event(1)], []) == (1, 0, 0)
        assert (tmp_path / "state" / "dead-letters.db").exists()
        store.close()
        assert secured.requests[0].headers["authorization"] == f"ApiKey {KEY}"
    finally:
        secured.stop()


def test_api_key_and_basic_auth_are_sent(make_store: StoreFactory, secured: FakeElasticsearch) -> None:
    make_store(fake=secured, api_key=Secret(KEY))
    assert {r.headers["authorization"] for r in secured.requests} == {f"ApiKey {KEY}"}
    secured.requests.clear()
    make_store(fake=secured, username="pii-guard", password=Secret(PASSWORD))
    basic = base64.b64encode(f"pii-guard:{PASSWORD}".encode()).decode()
    assert {r.headers["authorization"] for r in secured.requests} == {f"Basic {basic}"}


def test_a_wrong_api_key_is_a_clear_start_up_error(make_store: StoreFactory, secured: FakeElasticsearch) -> None:
    wrong = api_key(key="not-the-right-key")
    with pytest.raises(StoreError) as err:
        make_store(fake=secured, api_key=Secret(wrong))
    text = str(err.value)
    assert "refused the credentials (401 security_exception" in text
    assert "api_key_file" in text  # the hint
    assert wrong not in text
    assert "not-the-right-key" not in text


def test_a_wrong_password_is_a_clear_start_up_error(make_store: StoreFactory, secured: FakeElasticsearch) -> None:
    with pytest.raises(StoreError, match=r"refused the credentials \(401 security_exception: unable to "
                                         r"authenticate user \[pii-guard\]") as err:
        make_store(fake=secured, username="pii-guard", password=Secret("wrong password"))
    assert "wrong password" not in str(err.value)


def test_missing_credentials_are_a_clear_start_up_error(make_store: StoreFactory, secured: FakeElasticsearch) -> None:
    with pytest.raises(StoreError, match="missing authentication credentials"):
        make_store(fake=secured)


def test_an_unreachable_cluster_is_a_clear_start_up_error(make_store: StoreFactory) -> None:
    port = closed_port()
    with pytest.raises(StoreError) as err:
        make_store(hosts=[f"http://127.0.0.1:{port}"])
    assert f"cannot reach Elasticsearch at http://127.0.0.1:{port}: [Errno 111] Connection refused" in str(err.value)
    assert err.value.hint is not None
    assert "store hosts" in err.value.hint


def test_a_cluster_that_does_not_answer_is_a_clear_start_up_error(make_store: StoreFactory,
                                                                  fake_es: FakeElasticsearch) -> None:
    fake_es.fail(Fault(None, hang_s=2), path="/", method="GET")
    with pytest.raises(StoreError, match=r"did not answer within 0.3 s"):
        make_store(request_timeout_s=0.3)


def test_a_server_that_is_not_elasticsearch_is_refused(make_store: StoreFactory) -> None:
    other = FakeElasticsearch(product_header=False).start()
    try:
        with pytest.raises(StoreError, match=r"is not Elasticsearch \(no `X-Elastic-Product"):
            make_store(fake=other)
    finally:
        other.stop()


@pytest.mark.skipif(CLIENT_MAJOR < 9, reason="an 8.x client talks to both 8.x and 9.x clusters")
def test_a_client_newer_than_the_cluster_is_a_clear_start_up_error(make_store: StoreFactory) -> None:
    older = FakeElasticsearch(version="8.15.1").start()
    try:
        with pytest.raises(StoreError, match="does not accept the requests of elasticsearch-py 9") as err:
            make_store(fake=older)
        assert err.value.hint is not None
        assert "elasticsearch>=8.12,<9" in err.value.hint
    finally:
        older.stop()


@pytest.mark.parametrize("version", ["8.7.1", "8.19.2", "9.0.0", "9.1.3"] if CLIENT_MAJOR < 9 else ["9.0.0", "9.1.3"])
def test_clusters_the_client_can_talk_to(make_store: StoreFactory, version: str) -> None:
    fake = FakeElasticsearch(version=version).start()
    try:
        assert make_store(fake=fake).write([event(1)], []) == (1, 0, 0)
    finally:
        fake.stop()


def test_missing_privileges_for_the_template_or_policy_are_named(make_store: StoreFactory,
                                                                 fake_es: FakeElasticsearch) -> None:
    fake_es.deny("/_index_template/")
    with pytest.raises(StoreError, match="cannot install the index template") as err:
        make_store()
    assert err.value.hint == "the credentials need the `manage_index_templates` cluster privilege"
    fake_es.denied.clear()
    fake_es.deny("/_ilm/")
    with pytest.raises(StoreError, match="cannot install the ILM policy") as err:
        make_store(retention="90d")
    assert err.value.hint == "the credentials need the `manage_ilm` cluster privilege"


def test_a_template_put_answered_503_is_retried(make_store: StoreFactory, fake_es: FakeElasticsearch) -> None:
    fake_es.fail(Fault(503), path="/_index_template/pii-guard-events", times=2)
    make_store()
    assert len(fake_es.requests_to("/_index_template/pii-guard-events")) == 3


@pytest.mark.parametrize(("overrides", "message"), [
    ({"hosts": ["https://elastic:hunter2@es1:9200"]}, "credentials in a URL are not accepted"),
    ({"hosts": ["es1:9200"]}, "is not an http(s) URL"),
    ({"hosts": []}, "store hosts is empty"),
    ({"index_prefix": "PII"}, "index_prefix must be lowercase"),
    ({"username": "pii-guard"}, "basic auth needs both username and a password"),
])
def test_config_mistakes_are_refused_before_connecting(make_store: StoreFactory, fake_es: FakeElasticsearch,
                                                       overrides: dict[str, object], message: str) -> None:
    with pytest.raises(StoreError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        make_store(**overrides)
    assert "hunter2" not in str(err.value)
    assert fake_es.requests == []


def test_both_kinds_of_credentials_are_refused(make_store: StoreFactory, fake_es: FakeElasticsearch) -> None:
    with pytest.raises(StoreError, match="both an API key and a username/password"):
        make_store(api_key=Secret(KEY), username="pii-guard", password=Secret(PASSWORD))


def test_ca_certs_needs_https_and_an_existing_file(make_store: StoreFactory, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="ca_certs is set but hosts use http://"):
        make_store(ca_certs=tmp_path / "ca.pem")
    with pytest.raises(StoreError, match="store ca_certs: no file"):
        make_store(hosts=["https://127.0.0.1:9"], ca_certs=tmp_path / "ca.pem")


@pytest.fixture
def tls_fake(tls_files: TlsFiles) -> FakeElasticsearch:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files.cert, tls_files.key)
    fake = FakeElasticsearch(tls=context, api_keys=[KEY]).start()
    yield fake  # type: ignore[misc]
    fake.stop()


def test_the_ca_certificate_verifies_the_cluster(make_store: StoreFactory, tls_fake: FakeElasticsearch,
                                                 tls_files: TlsFiles) -> None:
    store = make_store(fake=tls_fake, api_key=Secret(KEY), ca_certs=tls_files.ca)
    assert store.write([event(1)], []) == (1, 0, 0)
    assert tls_fake.url.startswith("https://")


def test_without_the_ca_certificate_tls_fails_clearly(make_store: StoreFactory, tls_fake: FakeElasticsearch) -> None:
    with pytest.raises(StoreError, match=r"TLS with https://localhost:\d+ failed: .*certificate verify failed") as err:
        make_store(fake=tls_fake, api_key=Secret(KEY))
    assert err.value.hint == "set store ca_certs to the CA that signed the cluster's certificate"


def test_verify_certs_off_connects_and_warns(make_store: StoreFactory, tls_fake: FakeElasticsearch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="pii_guard"):
        make_store(fake=tls_fake, api_key=Secret(KEY), verify_certs=False)
    assert "TLS certificate verification is off" in caplog.text


def test_no_secret_in_any_error_or_log_record(make_store: StoreFactory, secured: FakeElasticsearch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    wrong_key = api_key(key="wrong-key-material")
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for attempt in (
            lambda: make_store(fake=secured, api_key=Secret(wrong_key)),
            lambda: make_store(fake=secured, username="pii-guard", password=Secret("wrong-password-material")),
        ):
            with pytest.raises(StoreError) as err:
                attempt()
            texts += [str(err.value), repr(err.value), str(err.value.hint)]
        store = make_store(fake=secured, api_key=Secret(KEY), max_retries=1)
        secured.fail(Fault(503), times=None)
        with pytest.raises(StoreError) as err:
            store.write([event(1)], [])
        texts += [str(err.value), repr(store.config), repr(Secret(KEY))]
        secured.clear_faults()
        store._resume_at = 0.0
        store.write([event(i) for i in range(3)], [])
        store2 = make_store(fake=secured, username="pii-guard", password=Secret(PASSWORD))
        store2.refresh()
        store2.count_events()
    texts += [r.getMessage() for r in caplog.records] + [str(vars(r)) for r in caplog.records]
    assert any("_bulk" in t for t in texts)  # the client's own request log was captured too
    everything = "\n".join(texts)
    for secret in (KEY, "s3cr3t-api-key-value", wrong_key, "wrong-key-material", PASSWORD,
                   "wrong-password-material", base64.b64encode(f"pii-guard:{PASSWORD}".encode()).decode()):
        assert secret not in everything
