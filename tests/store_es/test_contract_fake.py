"""The cluster-independent write tests, against the fake."""

from __future__ import annotations

from typing import Any

import pytest

from tests.store_es.conftest import StoreFactory
from tests.store_es.contract import OpenStore, WriteContract


class TestWriteContractOnFake(WriteContract):
    @pytest.fixture
    def open_store(self, make_store: StoreFactory) -> OpenStore:
        def open_(**config: Any) -> Any:
            return make_store(**config)

        return open_
