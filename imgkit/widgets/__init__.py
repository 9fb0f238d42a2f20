"""Jupyter panels for the drill, cost planning, mask editing and the fallback chain.

Each panel is an ipywidgets box whose callbacks stay thin: they collect the inputs and call the
same library functions the command line and the tests use (:func:`imgkit.runner.drill`,
:func:`imgkit.catalog.costs.projection_table`, :mod:`imgkit.providers.editing`,
:class:`imgkit.providers.chain.Chain`). Anything the simulator made is labelled simulated; text from
a run is escaped before it is shown.

::

    from imgkit.widgets import DrillPanel
    DrillPanel()          # the lesson's drill, on the simulator; press Run

The panels need ipywidgets (and JupyterLab to show them), which a plain ``pip install imgkit``
leaves out: ``pip install 'imgkit[notebook]'`` adds them.
"""

from __future__ import annotations

try:
    import ipywidgets  # noqa: F401 - only to say what is missing before the panels import it
except ModuleNotFoundError as exc:
    if exc.name != "ipywidgets":
        raise
    raise ImportError(
        "imgkit.widgets needs ipywidgets (and JupyterLab to show the panels), which are not "
        "installed: pip install 'imgkit[notebook]'"
    ) from None

from imgkit.widgets._common import BackgroundTask, has_live_key, model_label
from imgkit.widgets.chain import ChainPanel, attempt_timeline, faults_spec
from imgkit.widgets.cost_planner import PRESETS, CostPlanner
from imgkit.widgets.drill import DrillPanel, arm_choices
from imgkit.widgets.edit import EditPanel, mask_fidelity_figure, sample_image
from imgkit.widgets.gallery import Gallery, GalleryItem
from imgkit.widgets.rating import RatingPanel, quality_html

__all__ = [
    "PRESETS",
    "BackgroundTask",
    "ChainPanel",
    "CostPlanner",
    "DrillPanel",
    "EditPanel",
    "Gallery",
    "GalleryItem",
    "RatingPanel",
    "arm_choices",
    "attempt_timeline",
    "faults_spec",
    "has_live_key",
    "mask_fidelity_figure",
    "model_label",
    "quality_html",
    "sample_image",
]
