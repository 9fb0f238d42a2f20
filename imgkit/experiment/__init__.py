"""What a drill compares and how: arms, prompts, repeats and the options that define a run.

- :mod:`imgkit.experiment.arms`: an :class:`~imgkit.experiment.arms.Arm` is one way of asking
  for an image (model, endpoint, parameters, prompt variant);
- :mod:`imgkit.experiment.options`: :class:`~imgkit.experiment.options.DrillOptions`, the whole
  definition of a run as its manifest records it, and the
  :class:`~imgkit.experiment.options.RetryPolicy`.

Both the runner (which writes a run) and the run folder (which reads one back) depend on these;
neither depends on the other through them.
"""

from __future__ import annotations

from imgkit.experiment.arms import Arm
from imgkit.experiment.options import DrillOptions, RetryPolicy

__all__ = ["Arm", "DrillOptions", "RetryPolicy"]
