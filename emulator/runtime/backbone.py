"""The backbone: the impairment of every directed region pair, and the live links that carry it."""

from __future__ import annotations

import hashlib

from mediaplane.netem import Impairment, Timeline
from mediaplane.netem.link import FORWARD, REVERSE, TcpLink, UdpLink
from mediaplane.netem.link_base import LinkKind, TimelineRunner
from mediaplane.relay import Peer

from ..events import EventBus
from ..regions import Region, RegionCatalogue

__all__ = ["Backbone", "Link", "LinkKind"]

Link = TcpLink | UdpLink


class Backbone:
    """The impairment of every directed region pair, and the live links that carry it.

    The default for a pair is a constant one-way delay from the region catalogue's latency table.
    :meth:`set` replaces a direction's impairment (and updates every live link of that pair at once).
    """

    def __init__(self, regions: RegionCatalogue, *, seed: int | None = None) -> None:
        self.regions = regions
        self.seed = seed
        self._overrides: dict[tuple[str, str], Impairment] = {}
        self._links: list[tuple[str, str, Link]] = []
        """(client region, target region, link): forward = client -> target."""
        self._timelines: dict[tuple[str, str], TimelineRunner] = {}
        """The netem timeline runner of each region pair with a timeline (one direction each)."""
        self.events: EventBus | None = None
        """Where ``link.changed`` goes (:mod:`emulator.events`); None: nowhere."""

    def default(self, src: str, dst: str) -> Impairment:
        return Impairment(delay_ms=self.regions.default_latency_ms(src, dst))

    def impairment(self, src: str, dst: str) -> Impairment:
        """The impairment in force from region ``src`` to region ``dst``."""
        return self._overrides.get((src, dst)) or self.default(src, dst)

    def set(self, src: str, dst: str, impairment: Impairment) -> None:
        """Impair traffic from ``src`` to ``dst`` (both region ids) from now on."""
        self.regions.get(src)
        self.regions.get(dst)
        impairment.validate()
        self._overrides[(src, dst)] = impairment
        self._apply(src, dst)

    def clear(self, src: str, dst: str) -> None:
        """Back to the default (catalogue latency only) for ``src`` -> ``dst``; stops its timeline."""
        self.cancel_timeline(src, dst)
        self._overrides.pop((src, dst), None)
        self._apply(src, dst)

    def clear_all(self) -> None:
        for pair in list(self._timelines):
            self.cancel_timeline(*pair)
        pairs = list(self._overrides)
        self._overrides.clear()
        for src, dst in pairs:
            self._apply(src, dst)

    def run_timeline(self, src: str, dst: str, timeline: Timeline) -> None:
        """Apply ``timeline`` to ``src`` -> ``dst`` from now on, over the impairment in force now.

        Replaces a timeline already running on that direction. Needs a running loop.
        """
        self.cancel_timeline(src, dst)
        runner = self._timelines[(src, dst)] = TimelineRunner()
        runner.run(timeline, {FORWARD: self.impairment(src, dst)}, lambda _d, imp: self.set(src, dst, imp))

    def cancel_timeline(self, src: str, dst: str) -> None:
        runner = self._timelines.pop((src, dst), None)
        if runner is not None:
            runner.cancel()

    def timelines(self) -> list[tuple[str, str]]:
        """Directions with a timeline change still to apply."""
        return [pair for pair, runner in self._timelines.items() if not runner.done.is_set()]

    def overrides(self) -> dict[tuple[str, str], Impairment]:
        return dict(self._overrides)

    def links(self) -> list[tuple[str, str, Link]]:
        return list(self._links)

    def _apply(self, src: str, dst: str) -> None:
        imp = self.impairment(src, dst)
        if self.events is not None:
            self.events.emit("link.changed", **{"from": src, "to": dst}, impairment=imp.to_dict())
        for client_region, target_region, link in self._links:
            if (client_region, target_region) == (src, dst):
                link.set_impairment(FORWARD, imp)
            if (target_region, client_region) == (src, dst):  # both, for a link within one region
                link.set_impairment(REVERSE, imp)

    async def open_link(
        self, kind: LinkKind, client: Region, target: Region, address: Peer, name: str
    ) -> Link:
        """A new, started link from ``client``'s region to ``address`` in ``target``'s region."""
        fwd = self.impairment(client.id, target.id)
        rev = self.impairment(target.id, client.id)
        cls = TcpLink if kind is LinkKind.TCP else UdpLink
        link: Link = cls(
            target=address,
            listen=(client.host, 0),
            impairment=fwd,
            reverse_impairment=rev,
            seed=self.link_seed(name),
            name=name,
        )
        await link.start()
        self._links.append((client.id, target.id, link))
        return link

    def link_seed(self, name: str) -> int | None:
        """The seed of the link called ``name``: fixed by the backbone's seed and the name (which names
        the flows it joins), so a run repeats exactly while two links of one run draw independently
        (with one shared seed, every link with the same loss would drop the same packets)."""
        if self.seed is None:
            return None
        digest = hashlib.sha256(f"{self.seed}:{name}".encode()).digest()
        return int.from_bytes(digest[:8], "big")

    def forget(self, link: Link) -> None:
        self._links = [entry for entry in self._links if entry[2] is not link]
