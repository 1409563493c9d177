"""shared.retry: exponential backoff, full jitter, a cap, reset on success — with the
randomness and the sleep injected, so nothing here waits or depends on chance."""

from __future__ import annotations

import pytest

from shared.retry import Backoff, backoff_ceiling, jittered_delay


def test_the_ceiling_doubles_from_the_base_up_to_the_cap() -> None:
    ceilings = [backoff_ceiling(attempt, base=0.5, cap=10.0) for attempt in range(8)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_a_dependency_down_for_very_long_never_overflows_the_ceiling() -> None:
    assert backoff_ceiling(10_000, base=0.5, cap=30.0) == 30.0


@pytest.mark.parametrize(
    ("attempt", "base", "cap", "factor"),
    [(-1, 0.5, 10.0, 2.0), (0, 0.0, 10.0, 2.0), (0, 5.0, 1.0, 2.0), (0, 0.5, 10.0, 0.5)],
)
def test_nonsense_parameters_are_refused(
    attempt: int, base: float, cap: float, factor: float
) -> None:
    with pytest.raises(ValueError):
        backoff_ceiling(attempt, base=base, cap=cap, factor=factor)


def test_full_jitter_scales_the_ceiling_by_the_random_draw() -> None:
    assert jittered_delay(3, base=0.5, cap=10.0, rand=lambda: 0.0) == 0.0
    assert jittered_delay(3, base=0.5, cap=10.0, rand=lambda: 0.5) == 2.0
    assert jittered_delay(3, base=0.5, cap=10.0, rand=lambda: 0.999) == pytest.approx(3.996)
    assert jittered_delay(9, base=0.5, cap=10.0, rand=lambda: 0.5) == 5.0  # capped, then jittered


def test_the_real_random_draw_stays_within_zero_and_the_ceiling() -> None:
    delays = {jittered_delay(2, base=0.5, cap=10.0) for _ in range(200)}
    assert all(0.0 <= delay < 2.0 for delay in delays)
    assert len(delays) > 1  # jittered: replicas retrying together spread out


async def test_each_failure_waits_longer_and_success_starts_over() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    backoff = Backoff(base=0.5, cap=4.0, rand=lambda: 0.5, sleep=sleep)
    for _ in range(5):
        await backoff.wait()
    assert slept == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert backoff.attempt == 5

    backoff.reset()
    assert await backoff.wait() == 0.25
    assert slept[-1] == 0.25


def test_next_delay_counts_the_failure_without_sleeping() -> None:
    draws = iter([1.0 - 1e-9, 0.0, 0.5])
    backoff = Backoff(base=1.0, cap=8.0, rand=lambda: next(draws))
    assert backoff.next_delay() == pytest.approx(1.0)
    assert backoff.next_delay() == 0.0
    assert backoff.next_delay() == 2.0
    assert backoff.attempt == 3


def test_a_backoff_with_a_cap_below_its_base_is_refused() -> None:
    with pytest.raises(ValueError):
        Backoff(base=2.0, cap=1.0)
