"""Progress of a drill: one tqdm bar per arm (a widget in notebooks, text in a terminal)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["Progress"]


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
