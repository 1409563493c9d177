"""Reading a service's `/metrics` as samples (name, labels, value), not as lines of text."""

from __future__ import annotations

import re

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


async def scrape(http: aiohttp.ClientSession, url: str) -> str:
    """The exposition text of `url` (a `/metrics` address), which must answer 200 text/plain."""
    async with http.get(url) as response:
        assert response.status == 200, url
        assert response.content_type == "text/plain"
        return await response.text()


def samples(text: str) -> list[Sample]:
    """Every sample of an exposition text."""
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def declared(text: str) -> set[str]:
    """The metric names the text declares (`# TYPE` lines), as written there."""
    return set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))


def sample_total(text: str, name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 if none)."""
    return sum(
        sample.value
        for sample in samples(text)
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def has_sample(text: str, name: str, **labels: str) -> bool:
    """Whether a sample named `name` with (at least) `labels` exists, whatever its value."""
    return any(
        sample.name == name and labels.items() <= sample.labels.items() for sample in samples(text)
    )


async def metric_total(http: aiohttp.ClientSession, url: str, name: str, **labels: str) -> float:
    """`sample_total` of the `/metrics` of the service at `url` (its base address)."""
    return sample_total(await scrape(http, f"{url}/metrics"), name, **labels)
