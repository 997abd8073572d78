"""The cluster-independent write tests against a real Elasticsearch 8/9 cluster.

They run only when PII_GUARD_ES_URL names one (comma-separated URLs), with PII_GUARD_ES_API_KEY or
PII_GUARD_ES_USERNAME + PII_GUARD_ES_PASSWORD, and PII_GUARD_ES_CA_CERTS for a private CA. Each test writes under
its own index prefix (`pii-guard-test-<random>`) and deletes its indices, template and ILM policy afterwards.
No cluster can be installed in this project's CI, so there they skip: they carry the `escluster` marker, not
`realserver`, whose skips CI turns into failures.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pii_guard.config.secrets import Secret
from pii_guard.store import elastic_mapping as em
from pii_guard.store.elastic import ElasticsearchEventStore
from tests.store_es.contract import OpenStore, WriteContract
from tests.store_es.helpers import es_config

URL = os.environ.get("PII_GUARD_ES_URL", "")

pytestmark = [
    pytest.mark.escluster,
    pytest.mark.skipif(not URL, reason="PII_GUARD_ES_URL is not set: no Elasticsearch cluster to test against "
                                       "(none can be installed here)"),
]


def _cleanup(store: ElasticsearchEventStore) -> None:
    client, prefix = store.client, store.config.index_prefix
    names = list(client.indices.get(index=store.search_index, allow_no_indices=True, expand_wildcards="all"))
    if names:  # by name: clusters refuse wildcard deletes (action.destructive_requires_name)
        client.indices.delete(index=",".join(names))
    client.options(ignore_status=404).indices.delete_index_template(name=em.template_name(prefix))
    client.options(ignore_status=404).ilm.delete_lifecycle(name=em.policy_name(prefix))


class TestWriteContractOnCluster(WriteContract):
    @pytest.fixture
    def open_store(self, tmp_path: Path) -> Iterator[OpenStore]:
        opened: list[ElasticsearchEventStore] = []

        def open_(**config: Any) -> ElasticsearchEventStore:
            env = os.environ
            key, user, password = env.get("PII_GUARD_ES_API_KEY"), env.get("PII_GUARD_ES_USERNAME"), \
                env.get("PII_GUARD_ES_PASSWORD")
            ca = env.get("PII_GUARD_ES_CA_CERTS")
            cfg = es_config([u.strip() for u in URL.split(",")], index_prefix=f"pii-guard-test-{uuid.uuid4().hex[:8]}",
                            username=user, request_timeout_s=30.0, **config)
            store = ElasticsearchEventStore(cfg, api_key=Secret(key) if key else None,
                                            password=Secret(password) if password else None,
                                            ca_certs=Path(ca) if ca else None,
                                            dead_letters=tmp_path / f"dead-{len(opened)}.db")
            opened.append(store)
            return store

        yield open_
        for store in opened:
            _cleanup(store)
            store.close()
