"""The fallback chain against the simulator: every branch of the lesson's policy, scripted with
fault SPECs, checked by the attempts the chain reports *and* by the simulator's request counts."""

from __future__ import annotations

import asyncio
import json
import math
import statistics

import pytest

from imgkit import errors
from imgkit.providers import get_provider
from imgkit.providers.chain import DEFAULT_CHAIN, Chain, ChainLink, link_failure_probability

GEMINI, LEONARDO, OPENAI = "gemini-3.1-flash-image", "leonardo-phoenix", "gpt-image-2"
# Small images keep the simulator fast; the policy does not care about size.
LINKS = [
    ChainLink(GEMINI, {"size": "512x512"}),
    ChainLink(LEONARDO, {"size": "256x256"}),
    ChainLink(OPENAI, {"quality": "low"}),
]


@pytest.fixture
def chain_for(sim):
    """Build a chain on the session simulator with a fault SPEC; faults cleared afterwards."""
    made: list[Chain] = []

    def build(faults: str = "", links=LINKS, **kwargs) -> Chain:
        sim.configure(faults=faults)
        sim.reset()
        kwargs.setdefault("retry_delay_s", 0)
        # each request's total deadline (imgkit.providers.deadline), not a gap between bytes:
        # 300 requests 16 at a time on a loaded machine may take more than a second each; the
        # tests that want a timeout ask for a short one
        kwargs.setdefault("timeout_s", 30.0)
        kwargs.setdefault("provider_options", {"leonardo": {"poll_interval_s": 0.01}})
        chain = Chain(links, server=sim, **kwargs)
        made.append(chain)
        return chain

    yield build
    sim.configure(faults="")
    for chain in made:
        chain.close()


def _requests(sim, provider: str, model: str) -> int:
    return sim.stats()["requests"].get(provider, {}).get(model, 0)


def _trail(result_or_error) -> list[tuple[str, str, str]]:
    return [(a.model, a.outcome, a.action) for a in result_or_error.attempts]


def test_first_provider_serves_when_all_is_well(chain_for, sim):
    outcome = chain_for().generate("a red fox")
    assert outcome.served_by == f"gemini/{GEMINI}" and outcome.link == 0
    assert _trail(outcome) == [(GEMINI, "ok", "served")]
    # costed from the answer's usageMetadata (the simulator's tokens), near the per-image price
    assert outcome.result.cost_basis == "usage"
    assert outcome.cost_usd == pytest.approx(0.045, rel=0.05)
    assert outcome.attempts[0].request_id == outcome.result.request_id


def test_429_goes_to_the_next_provider_at_once(chain_for, sim):
    outcome = chain_for("gemini:429=x1").generate("a red fox")
    assert _trail(outcome) == [
        (GEMINI, "rate_limited", "next_provider"),
        (LEONARDO, "ok", "served"),
    ]
    assert outcome.attempts[0].status == 429 and outcome.attempts[0].retry_after is not None
    assert _requests(sim, "gemini", GEMINI) == 1  # never retried on the same provider
    assert outcome.cost_usd == pytest.approx(0.008)


def test_500_is_retried_once_then_the_next_provider(chain_for, sim):
    outcome = chain_for("gemini:500=x2").generate("a red fox")
    assert _trail(outcome) == [
        (GEMINI, "transient", "retry_same_provider"),
        (GEMINI, "transient", "next_provider"),
        (LEONARDO, "ok", "served"),
    ]
    assert [a.try_number for a in outcome.attempts] == [1, 2, 1]
    assert _requests(sim, "gemini", GEMINI) == 2  # tried exactly twice


def test_a_single_500_is_absorbed_by_the_retry(chain_for, sim):
    outcome = chain_for("gemini:503=x1").generate("a red fox")
    assert outcome.served_by == f"gemini/{GEMINI}"
    assert _trail(outcome)[0] == (GEMINI, "transient", "retry_same_provider")
    assert _requests(sim, "gemini", GEMINI) == 2


@pytest.mark.parametrize("kind, error_kind", [("timeout", "timeout"), ("drop", "connection_lost")])
def test_timeouts_and_drops_are_retried_once(chain_for, sim, kind, error_kind):
    # gemini steps aside with a 429 so that leonardo's branch is exercised
    outcome = chain_for(f"gemini:429=x1;leonardo:{kind}=x2", timeout_s=0.5).generate("a fox")
    assert _trail(outcome) == [
        (GEMINI, "rate_limited", "next_provider"),
        (LEONARDO, "transient", "retry_same_provider"),
        (LEONARDO, "transient", "next_provider"),
        (OPENAI, "ok", "served"),
    ]
    assert {a.error_kind for a in outcome.attempts[1:3]} == {error_kind}
    assert _requests(sim, "leonardo", LEONARDO) == 2


def test_content_policy_is_tried_once_and_never_again(chain_for, sim):
    chain = chain_for("gemini:policy=x1")
    outcome = chain.generate("a castle at night")
    assert _trail(outcome) == [(GEMINI, "refused", "next_provider"), (LEONARDO, "ok", "served")]
    assert outcome.attempts[0].reason and outcome.attempts[0].error_kind == "content_policy"
    assert _requests(sim, "gemini", GEMINI) == 1  # a refusal exactly once
    assert chain.refused("gemini", "a castle at night")
    again = chain.generate("a castle at night")
    assert _trail(again)[0] == (GEMINI, "skipped", "next_provider")
    assert _requests(sim, "gemini", GEMINI) == 1  # the prompt was not resent to gemini
    assert chain.generate("another prompt").served_by == f"gemini/{GEMINI}"


def test_a_blocked_term_refused_by_every_provider_exhausts_the_chain(chain_for, sim):
    alerts = []
    chain = chain_for(alert=alerts.append)
    with pytest.raises(errors.ChainExhaustedError) as info:
        chain.generate("a scene of graphic violence")
    assert [a.outcome for a in info.value.attempts] == ["refused"] * 3
    assert alerts == [info.value]
    for provider, model in (("gemini", GEMINI), ("leonardo", LEONARDO), ("openai", OPENAI)):
        assert _requests(sim, provider, model) == 1


def test_other_4xx_is_a_configuration_error(chain_for, sim):
    # A gateway URL that does not exist: the service answers 404, a configuration problem.
    broken = get_provider("openai", base_url=sim.base_url + "/wrong/v1")
    links = [ChainLink(OPENAI, {"quality": "low"}, provider=broken), LINKS[1]]
    try:
        outcome = chain_for(links=links).generate("a red fox")
    finally:
        broken.close()
    assert _trail(outcome) == [
        (OPENAI, "configuration_error", "next_provider"),
        (LEONARDO, "ok", "served"),
    ]
    assert outcome.attempts[0].status == 404


def test_last_provider_failing_raises_with_every_attempt_and_alerts(chain_for, sim, caplog):
    chain = chain_for("gemini:429=x1;leonardo:500=x2;openai:503=x2")
    with (
        caplog.at_level("ERROR", logger="imgkit.providers.chain"),
        pytest.raises(errors.ChainExhaustedError) as info,
    ):
        chain.generate("a red fox")
    attempts = info.value.attempts
    assert [(a.provider, a.status, a.action) for a in attempts] == [
        ("gemini", 429, "next_provider"),
        ("leonardo", 500, "retry_same_provider"),
        ("leonardo", 500, "next_provider"),
        ("openai", 503, "retry_same_provider"),
        ("openai", 503, "gave_up"),
    ]
    for attempt in attempts:
        assert attempt.message and attempt.error_kind and attempt.elapsed_s >= 0
        assert attempt.request_id  # the simulator, like the services, sends one with errors
    assert "fallback chain exhausted" in caplog.text  # the default alert hook logs
    assert _requests(sim, "openai", OPENAI) == 2


def test_async_chain(chain_for, sim):
    chain = chain_for("gemini:429=x1")

    async def main():
        try:
            return await chain.agenerate("a red fox")
        finally:
            await chain.aclose()

    outcome = asyncio.run(main())
    assert outcome.served_by == f"leonardo/{LEONARDO}"


def test_links_are_checked_when_the_chain_is_built(sim):
    with pytest.raises(errors.ValidationError, match="quality"):
        Chain([ChainLink("dall-e-3", {"quality": "ultra"})], server=sim)
    with pytest.raises(errors.RetiredModelError):
        Chain([ChainLink("dall-e-3")], backend="live")
    with pytest.raises(errors.ValidationError, match="retry_delay_s"):
        Chain(LINKS, server=sim, retry_delay_s=-1)


def test_a_prompt_too_long_for_one_link_skips_it_as_a_configuration_error(chain_for):
    outcome = chain_for(links=[LINKS[1], LINKS[0]]).generate("x" * 2000)  # leonardo: 1500 max
    assert _trail(outcome) == [
        (LEONARDO, "configuration_error", "next_provider"),
        (GEMINI, "ok", "served"),
    ]


def test_default_chain_and_toml(tmp_path, sim):
    chain = Chain.default(server=sim)
    assert [link.model for link in chain.links] == [model for model, _ in DEFAULT_CHAIN]
    assert [link.provider_name for link in chain.links] == ["gemini", "leonardo", "openai"]
    config = tmp_path / "chain.toml"
    config.write_text(
        'retry_delay_s = 0\n[[links]]\nmodel = "leonardo-phoenix"\nsize = "256x256"\n'
        '[[links]]\nmodel = "gpt-image-2"\nquality = "low"\nlabel = "openai-last-resort"\n',
        encoding="utf-8",
    )
    chain = Chain.from_toml(config, server=sim)
    assert chain.retry_delay_s == 0
    assert chain.links[0].params == {"size": "256x256"}
    assert chain.links[1].name == "openai-last-resort"
    bad = tmp_path / "bad.toml"
    bad.write_text("[[links]]\nmodel = 'no-such-model'\n", encoding="utf-8")
    with pytest.raises(errors.ValidationError):
        Chain.from_toml(bad, server=sim)


def test_link_failure_probability_follows_the_policy():
    assert link_failure_probability("gemini", GEMINI, "gemini:429=0.3") == pytest.approx(0.3)
    # a 500 is retried: the link fails only when the retry fails too
    assert link_failure_probability("gemini", GEMINI, "gemini:500=0.2") == pytest.approx(0.04)
    assert link_failure_probability("openai", OPENAI, "gemini:500=0.2") == 0.0
    both = link_failure_probability("gemini", GEMINI, "gemini:429=0.1,500=0.2")
    assert both == pytest.approx(0.1 + 0.2 * 0.3)


def test_expected_cost_matches_a_simulated_chain_with_random_faults(chain_for, sim):
    faults = "gemini:429=0.35,500=0.15;leonardo:503=0.3,policy=0.15;openai:timeout=0.0,500=0.2"
    # A timeout is no fault of this spec: 16 photographs drawn at once on a loaded 2-core
    # machine can take longer than the fixture's 1 s, so this chain waits longer.
    chain = chain_for(faults, timeout_s=10.0, links=[
        ChainLink(GEMINI, {"size": "512x512"}),
        ChainLink(LEONARDO, {"size": "64x64"}),
        ChainLink("dall-e-2", {"size": "256x256", "response_format": "b64_json"}),
    ])  # fmt: skip
    figure = chain.expected_cost(faults)

    async def one(i: int, gate: asyncio.Semaphore) -> float:
        # distinct prompts: a refusal must not carry over to the next request
        async with gate:
            try:
                return (await chain.agenerate(f"test prompt {i}")).cost_usd
            except errors.ChainExhaustedError:
                return 0.0

    async def run_all() -> list[float]:
        gate = asyncio.Semaphore(16)
        try:
            return await asyncio.gather(*(one(i, gate) for i in range(300)))
        finally:
            await chain.aclose()

    costs = asyncio.run(run_all())
    mean = statistics.fmean(costs)
    standard_error = statistics.stdev(costs) / math.sqrt(len(costs))
    assert abs(mean - figure["expected_usd"]) < 4 * standard_error
    assert figure["links"][0]["p_fail"] == pytest.approx(0.35 + 0.15 * 0.5)


def test_cli_chain_json_reports_attempts_and_result(capsys):
    from imgkit.cli import main

    code = main(["chain", "--prompt", "a red fox", "--faults", "gemini:429=x1",
                 "--retry-delay", "0", "--json"])  # fmt: skip
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and payload["ok"] and payload["served_by"] == f"leonardo/{LEONARDO}"
    assert [a["outcome"] for a in payload["attempts"]] == ["rate_limited", "ok"]
    assert payload["result"]["simulated"] is True and payload["cost_usd"] > 0


def test_cli_chain_exhausted_and_bad_input(capsys, tmp_path):
    from imgkit.cli import main

    code = main(["chain", "--prompt", "a red fox", "--retry-delay", "0",
                 "--faults", "gemini:429=x1;leonardo:429=x1;openai:429=x1"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1 and "rate_limited" in captured.out and "failed" in captured.err
    assert main(["chain", "--prompt", "x", "--backend", "live", "--faults", "*:429=1"]) == 2
    assert "--faults" in capsys.readouterr().err


def test_cli_edit_with_a_rectangle(capsys, tmp_path):
    from PIL import Image

    from imgkit.cli import main

    source = tmp_path / "in.png"
    Image.new("RGB", (256, 256), "teal").save(source)
    out = tmp_path / "out.png"
    code = main(["edit", "--image", str(source), "--rect", "32,32,128,128", "--prompt",
                 "a moon", "--model", "dall-e-2", "--size", "256x256", "--out", str(out),
                 "--json"])  # fmt: skip
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and out.is_file()
    assert payload["mask_fidelity"][0]["outside_changed"] < 0.2
