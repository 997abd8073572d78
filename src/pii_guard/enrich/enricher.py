"""Adds directory, data-map and zone facts to parsed events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Final

from pii_guard.config.models import Config
from pii_guard.enrich.datamap import DataMap
from pii_guard.enrich.directory import Directory
from pii_guard.enrich.zones import Zones
from pii_guard.model import AccessEvent, EnrichedEvent, ObjectInfo, UserInfo

# EnrichedEvent from a tuple of its four fields without NamedTuple's Python-level __new__: one per event.
_new_enriched: Final[Callable[[tuple[AccessEvent, UserInfo | None, ObjectInfo, str | None]], EnrichedEvent]] = partial(
    tuple.__new__, EnrichedEvent
)


@dataclass(frozen=True)
class Enricher:
    directory: Directory
    data_map: DataMap
    zones: Zones
    # the three lookups, bound once rather than looked up per event (each is memoized by its key)
    _user_of: Callable[[str], UserInfo] = field(init=False, repr=False, compare=False)
    _data_of: Callable[[str | None, str | None], ObjectInfo] = field(init=False, repr=False, compare=False)
    _zone_of: Callable[[str], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_user_of", self.directory.lookup)
        object.__setattr__(self, "_data_of", self.data_map.lookup)
        object.__setattr__(self, "_zone_of", self.zones.lookup)

    def __call__(self, event: AccessEvent) -> EnrichedEvent:
        user, ip = event.user, event.source_ip
        return _new_enriched(
            (
                event,
                None if user is None else self._user_of(user),
                self._data_of(event.object, event.statement),
                None if ip is None else self._zone_of(ip),
            )
        )

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
