"""Fixtures of the console's tests: a scenario store built once per session through the real pipeline and
copied per test, the app over it, and signed-in test clients (in-process, over https so Secure cookies flow)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from pii_guard.web.app import create_app
from tests.web.scenario import PASSWORDS, Scenario, build, copy

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="session")
def scenario_template(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return build(tmp_path_factory.mktemp("web-scenario") / "site")


@pytest.fixture
def scenario(scenario_template: Scenario, tmp_path: Path) -> Scenario:
    return copy(scenario_template, tmp_path / "site")


@pytest.fixture
def app(scenario: Scenario) -> Iterator[Starlette]:
    application = create_app(scenario.loaded.config, scenario.clock)
    yield application
    application.state.ctx.close()


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str | None = None) -> TestClient:
    page = client.get("/login")
    answer = client.post("/login", data={"csrf": csrf_of(page.text), "account": name,
                                         "password": password or PASSWORDS[name]}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture
def client_for(app: Starlette) -> Iterator[Callable[..., TestClient]]:
    made: list[TestClient] = []

    def make(name: str | None = None, peer: str = "127.0.0.1", headers: dict[str, str] | None = None) -> TestClient:
        client = TestClient(app, base_url="https://testserver", client=(peer, 40000), headers=headers)
        made.append(client)
        return sign_in(client, name) if name else client

    yield make
    for client in made:
        client.close()
