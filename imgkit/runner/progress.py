"""Progress of a drill: one tqdm bar per arm, and one per batch sent to a vendor's Batch API
(a widget in notebooks, text in a terminal)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["BatchBars", "Progress"]


class Progress:
    """One bar per arm, showing done / failed / refused and the money that arm has spent."""

    def __init__(self, totals: Mapping[str, int], done: Mapping[str, int], enabled: bool) -> None:
        self.bars: dict[str, Any] = {}
        self.counts = {arm: {"ok": 0, "failed": 0, "refused": 0} for arm in totals}
        self.spent = dict.fromkeys(totals, 0.0)
        if not enabled:
            return
        from tqdm.auto import tqdm

        width = max(len(a) for a in totals)
        for position, (arm, total) in enumerate(totals.items()):
            self.bars[arm] = tqdm(
                total=total,
                initial=done.get(arm, 0),
                desc=arm.ljust(width),
                position=position,
                unit="img",
                leave=True,
                dynamic_ncols=True,
            )

    def update(self, arm: str, outcome: str, cost: float = 0.0) -> None:
        """One generation of ``arm`` was decided: ``outcome`` is ok, failed or refused."""
        self.counts[arm][outcome] += 1
        self.spent[arm] += cost
        bar = self.bars.get(arm)
        if bar is not None:
            c = self.counts[arm]
            bar.set_postfix_str(
                f"ok={c['ok']} failed={c['failed']} refused={c['refused']} "
                f"spent=${self.spent[arm]:.4f}",
                refresh=False,
            )
            bar.update(1)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


class BatchBars:
    """One bar per batch at a vendor: its status and request counts as the vendor reports them
    (requests done out of the batch's total). ``snapshot`` is the same, as plain data."""

    def __init__(self, enabled: bool, position: int = 0) -> None:
        self.enabled = enabled
        self.position = position
        self.bars: dict[str, Any] = {}
        self.snapshot: dict[str, dict[str, Any]] = {}

    def add(self, key: str, label: str, total: int) -> None:
        self.snapshot[key] = {"label": label, "status": "preparing", "total": total, "done": 0}
        if not self.enabled or key in self.bars:
            return
        from tqdm.auto import tqdm

        self.bars[key] = tqdm(
            total=total,
            desc=label,
            position=self.position + len(self.bars),
            unit="req",
            leave=True,
            dynamic_ncols=True,
        )
        self.bars[key].set_postfix_str("preparing", refresh=False)

    def update(
        self, key: str, status: str, completed: int | None = None, failed: int | None = None
    ) -> None:
        """What the vendor now says of batch ``key`` (counts None: it does not say)."""
        entry = self.snapshot.get(key)
        if entry is None:
            return
        done = (completed or 0) + (failed or 0)
        entry.update(status=status, completed=completed, failed=failed, done=done)
        bar = self.bars.get(key)
        if bar is None:
            return
        counts = "" if completed is None else f" completed={completed} failed={failed or 0}"
        bar.set_postfix_str(f"{status}{counts}", refresh=False)
        bar.update(max(0, min(done, bar.total) - bar.n))

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
