"""The rule ids the policy defines (access policy and Sigma rules), for the status page's rule health."""

from __future__ import annotations

import threading

from pii_guard.config.models import Config
from pii_guard.errors import PiiGuardError


class PolicyRules:
    """The rule ids the policy defines, loaded once (the directory and data map can be large)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: tuple[list[str], str] | None = None

    def get(self, config: Config) -> tuple[list[str], str]:
        with self._lock:
            if self._loaded is None:
                from pii_guard.detection.build import policy_for
                from pii_guard.enrich.enricher import Enricher

                try:
                    policy = policy_for(config, Enricher.from_config(config))
                    self._loaded = (sorted(policy.policy.rule_ids()), "")
                except PiiGuardError as exc:
                    self._loaded = ([], f"the policy cannot be loaded: {exc}")
            return self._loaded
