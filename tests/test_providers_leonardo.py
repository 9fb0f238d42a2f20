"""The Leonardo provider (plain HTTP: create, poll, download) against the simulator."""

from __future__ import annotations

import asyncio

import pytest

from imgkit import errors
from imgkit.catalog.validation import validate_request
from imgkit.providers import provider_for_model

MODEL = "leonardo-phoenix"


@pytest.fixture
def leonardo(sim):
    provider = provider_for_model(MODEL, base_url=sim.leonardo_base_url, poll_interval_s=0.01)
    yield provider
    provider.close()


@pytest.fixture
def faults(sim):
    def set_faults(spec: str) -> None:
        sim.configure(faults=spec)
        sim.reset()

    yield set_faults
    sim.configure(faults="")


def test_create_poll_download_and_reported_cost(leonardo, sim):
    sim.reset()
    results = leonardo.generate(validate_request(MODEL, "a red fox", n=2, seed=5))
    assert len(results) == 2
    first = results[0]
    assert first.image_format == "jpeg" and (first.width, first.height) == (1024, 1024)
    assert first.cost_basis == "reported"
    job_cost = first.metadata["job"]["cost"]["amount"]
    assert sum(r.cost_usd for r in results) == pytest.approx(job_cost)
    assert first.request_id == first.metadata["job"]["generationId"]
    stats = sim.stats()
    assert stats["downloads"] == 2 and stats["requests"]["leonardo"][MODEL] == 1


def test_async_generate(leonardo):
    async def main():
        try:
            return await leonardo.agenerate(validate_request(MODEL, "a blue fox", size="1472x832"))
        finally:
            await leonardo.aclose()

    (result,) = asyncio.run(main())
    assert (result.width, result.height) == (1472, 832)


def test_the_poll_is_bounded(sim_factory):
    slow = sim_factory(latency=5.0)
    provider = provider_for_model(
        MODEL, base_url=slow.leonardo_base_url, poll_interval_s=0.05, max_wait_s=0.2
    )
    try:
        with pytest.raises(errors.ProviderTimeoutError, match="not finished"):
            provider.generate(validate_request(MODEL, "a slow fox"))
    finally:
        provider.close()


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("429", errors.RateLimitedError),
        ("500", errors.ServerError),
        ("policy", errors.ContentPolicyError),
        ("drop", errors.ConnectionLostError),
    ],
)
def test_faults_map_to_the_error_tree(leonardo, faults, kind, expected):
    faults(f"leonardo:{kind}=x1")
    with pytest.raises(expected) as info:
        leonardo.generate(validate_request(MODEL, "a barn"))
    assert info.value.provider == "leonardo"


def test_leonardo_does_not_edit(leonardo):
    with pytest.raises(errors.ValidationError):
        leonardo.edit(validate_request(MODEL, "x"), image=b"")
