"""Which URL slots of a record are fetched: limits, include/exclude patterns and the AMP
cache check, applied the same way when collecting links, listing them and writing records.

Pure: no I/O, no network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from enricher.config import Config
from enricher.links import LinkSlots, amp_cache_url, extract_links, same_amp_cache_url
from enricher.models import LinkRef, LinkStatus
from enricher.records import Record


@dataclass(frozen=True, slots=True)
class LinkPolicy:
    """Include/exclude patterns and the AMP cache check, applied to every slot."""

    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def from_config(cls, config: Config) -> LinkPolicy:
        return cls(
            tuple(re.compile(p) for p in config.include),
            tuple(re.compile(p) for p in config.exclude),
        )

    def apply(self, slots: LinkSlots) -> list[LinkRef]:
        amp = {ref.holder: ref.url for ref in slots.refs if ref.key == "ampWebUrl" and ref.url}
        return [self._check(ref, amp.get(ref.holder)) for ref in slots.refs]

    def _check(self, ref: LinkRef, amp_url: str | None) -> LinkRef:
        url = ref.url
        if url is None:
            return ref
        if self.include and not any(p.search(url) for p in self.include):
            return replace(ref, url=None, status=LinkStatus.SKIPPED, reason="not_included")
        if any(p.search(url) for p in self.exclude):
            return replace(ref, url=None, status=LinkStatus.SKIPPED, reason="excluded")
        if ref.key == "cdnAmpWebUrl" and amp_url is not None:
            expected = amp_cache_url(amp_url)
            if expected is not None and not same_amp_cache_url(expected, url):
                return replace(
                    ref, url=None, status=LinkStatus.INVALID, reason="amp_cache_mismatch"
                )
        return ref


def record_slots(record: Record, config: Config) -> LinkSlots:
    """Every URL slot of a readable record, with the configured limits."""
    return extract_links(
        record.data,
        record.display,
        record.line_of,
        max_urls=config.max_urls_per_record,
        max_length=config.max_url_length,
        allowed_low_ports=config.fetch.allowed_low_ports,
    )
