"""Named network zones: CIDR lists → zone name, longest prefix wins."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pii_guard.config.validate import validate
from pii_guard.config.yamlload import load_yaml_file
from pii_guard.enrich.files import ZonesFile

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Zones:
    """Maps a client IP to its zone. Results are memoized: a site has few distinct client IPs."""

    def __init__(self, zones: dict[str, list[str]], unknown_zone: str = "unknown") -> None:
        nets: list[tuple[Network, str]] = []
        for name, cidrs in zones.items():
            nets.extend((ipaddress.ip_network(c, strict=False), name) for c in cidrs)
        nets.sort(key=lambda item: item[0].prefixlen, reverse=True)
        self._nets = nets
        self._unknown = unknown_zone
        self._cache: dict[str, str] = {}
        self.names = frozenset(zones) | {unknown_zone}

    def lookup(self, ip: str) -> str:
        zone = self._cache.get(ip)
        if zone is None:
            zone = self._compute(ip)
            if len(self._cache) >= 65_536:
                self._cache.clear()
            self._cache[ip] = zone
        return zone

    def _compute(self, ip: str) -> str:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return self._unknown
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        for net, name in self._nets:
            if addr.version == net.version and addr in net:
                return name
        return self._unknown

    @classmethod
    def from_file(cls, path: Path) -> Zones:
        parsed = validate(ZonesFile, load_yaml_file(path))
        return cls(parsed.zones, parsed.unknown_zone)

    @classmethod
    def empty(cls) -> Zones:
        return cls({})
