"""The budget: refused before sending when the estimate passes it, held while sending.

Before a run (or a resume) sends anything, :func:`check_budget` compares the estimate, plus what
is already spent, with the budget. While it sends, a :class:`Budget` admits a request only if
the money already spent, the money reserved by requests in flight and this request's
reservation all fit, so actual spend stays within the budget even when a price is missing or too
low.
"""

from __future__ import annotations

import asyncio

from imgkit.errors import BudgetExceededError

__all__ = ["Budget", "check_budget"]


def check_budget(budget: float | None, needed: float, spent: float = 0.0) -> None:
    """:class:`~imgkit.errors.BudgetExceededError` when ``spent + needed`` passes ``budget``."""
    if budget is not None and spent + needed > budget + 1e-9:
        already = f" (${spent:.4f} already spent or presumed billed)" if spent else ""
        raise BudgetExceededError(
            f"estimated cost ${needed:.4f}{already} exceeds the budget of ${budget:.4f}; "
            "nothing was sent",
            budget_usd=budget,
            needed_usd=spent + needed,
        )


class Budget:
    """Spend accounting for one runner session: what is spent, reserved, and may be sent.

    ``limit`` is None for no budget (every request is admitted, spend is still counted).
    """

    def __init__(self, limit: float | None, spent: float = 0.0) -> None:
        self.limit = limit
        self.spent = spent
        self.reserved = 0.0
        # The dearest image each arm has actually cost: reserved for its later requests when
        # it exceeds the estimate, so a catalog price that is too low cannot carry the run
        # past its budget (only the first requests in flight rely on the estimate alone).
        self.dearest: dict[str, float] = {}
        # Under a budget, an arm sends one request at a time until one of its images has a
        # known cost: the estimate may be missing (xhigh is billed from usage only) or too low,
        # and a full batch sent on it could pass the budget several times over before the
        # first answer. After that, ``dearest`` bounds what each request in flight may cost.
        self._first_cost: dict[str, asyncio.Lock] = {}

    async def first_cost_turn(self, arm: str) -> asyncio.Lock | None:
        """Under a budget, wait until ``arm`` may send; return the lock to hold, if any."""
        if self.limit is None or arm in self.dearest:
            return None
        lock = self._first_cost.setdefault(arm, asyncio.Lock())
        await lock.acquire()
        if arm in self.dearest:  # the request ahead of this one learnt the price
            lock.release()
            return None
        return lock

    def reservation(self, arm: str, estimated_usd: float | None) -> float:
        """What to hold back for one request of ``arm`` until its cost is known."""
        return max(estimated_usd or 0.0, self.dearest.get(arm, 0.0))

    def allows(self, cost: float | None) -> bool:
        """Whether a request reserving ``cost`` may be sent now."""
        if self.limit is None:
            return True
        # Money already spent, money committed by requests in flight, and this request: only
        # if all three fit is it sent, so actual spend stays within the budget.
        return self.spent + self.reserved + (cost or 0.0) <= self.limit + 1e-9

    def paid(self, arm: str, amount: float) -> None:
        """An image of ``arm`` arrived and cost ``amount``."""
        self.spent += amount
        self.dearest[arm] = max(self.dearest.get(arm, 0.0), amount)

    def presume_billed(self, amount: float) -> None:
        """A request that may have been billed without our seeing its image."""
        self.spent += amount
