"""Adds directory, data-map and zone facts to parsed events."""

from __future__ import annotations

from dataclasses import dataclass

from pii_guard.config.models import Config
from pii_guard.enrich.datamap import DataMap
from pii_guard.enrich.directory import Directory
from pii_guard.enrich.zones import Zones
from pii_guard.model import AccessEvent, EnrichedEvent


@dataclass(frozen=True)
class Enricher:
    directory: Directory
    data_map: DataMap
    zones: Zones

    def __call__(self, event: AccessEvent) -> EnrichedEvent:
        user = self.directory.lookup(event.user) if event.user is not None else None
        data = self.data_map.lookup(event.object, event.statement)
        zone = self.zones.lookup(event.source_ip) if event.source_ip is not None else None
        return EnrichedEvent(event, user, data, zone)

    @classmethod
    def empty(cls) -> Enricher:
        return cls(Directory.empty(), DataMap.empty(), Zones.empty())

    @classmethod
    def from_config(cls, config: Config) -> Enricher:
        policy = config.policy
        return cls(
            Directory.from_file(config.resolve(policy.directory)) if policy.directory else Directory.empty(),
            DataMap.from_file(config.resolve(policy.data_map)) if policy.data_map else DataMap.empty(),
            Zones.from_file(config.resolve(policy.zones)) if policy.zones else Zones.empty(),
        )
