"""Fixtures of the Elasticsearch store tests: the fake cluster, stores against it, a throwaway CA."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pii_guard.config.secrets import Secret
from pii_guard.store.elastic import ElasticsearchEventStore
from tests.store_es.fake_es import FakeElasticsearch
from tests.store_es.fake_es import fake_es as fake_es
from tests.store_es.helpers import es_config


@dataclass
class StoreFactory:
    fake: FakeElasticsearch
    dead_letters: Path
    sleeps: list[float]
    opened: list[ElasticsearchEventStore]

    def __call__(self, *, fake: FakeElasticsearch | None = None, api_key: Secret | None = None,
                 password: Secret | None = None, ca_certs: Path | None = None,
                 **config: Any) -> ElasticsearchEventStore:
        target = fake or self.fake
        cfg = es_config(config.pop("hosts", target.url), **config)
        store = ElasticsearchEventStore(cfg, api_key=api_key, password=password, ca_certs=ca_certs,
                                        dead_letters=self.dead_letters, sleep=self.sleeps.append)
        store.cooldown_base_s = 0.0  # tests retry a failed batch at once unless they test the cool-down
        self.opened.append(store)
        return store


@pytest.fixture
def make_store(fake_es: FakeElasticsearch, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens stores against `fake_es` (or another fake); backoff sleeps are recorded in `.sleeps`, not slept."""
    factory = StoreFactory(fake_es, tmp_path / "dead-letters.db", [], [])
    yield factory
    for store in factory.opened:
        store.close()


@dataclass
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A throwaway CA and a certificate for localhost/127.0.0.1 it signed (made with the openssl tool)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl tool is needed to make a test CA")
    d = tmp_path_factory.mktemp("tls")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=pii-guard test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "ext.cnf").write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                               "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
                               "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return TlsFiles(d / "ca.pem", d / "server.pem", d / "server.key")


