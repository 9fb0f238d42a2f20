"""imgkit.report.plots: what each figure draws, inspected through its artists (never its pixels)."""

from __future__ import annotations

import math
from decimal import Decimal

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported anywhere: no window, same output everywhere

import numpy as np
import pandas as pd
import pytest
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from imgkit.analysis.consistency import (
    consistency_table,
    distance_histogram,
    within_arm_distances,
)
from imgkit.analysis.divergence import (
    divergence_summary,
    divergence_table,
    divergence_vs_distance,
)
from imgkit.catalog.costs import projection_table
from imgkit.errors import ValidationError
from imgkit.report import plots

try:
    from analysis_fixtures import make_run
    from browser_helpers import ARTIFACTS as ROOT_ARTIFACTS
    from plot_checks import drawn, missing_arms, overlapping_texts
except ImportError:  # tests/ imported as a package
    from tests.analysis_fixtures import make_run
    from tests.browser_helpers import ARTIFACTS as ROOT_ARTIFACTS
    from tests.plot_checks import drawn, missing_arms, overlapping_texts

REPEATS = 4
PROMPTS = ("a cat on a sofa", "a cup of coffee")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> pd.DataFrame:
    """Two arms x two prompts x 4 images, plus one failed generation per arm and prompt."""
    return make_run(tmp_path_factory.mktemp("run"), repeats=REPEATS)


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory) -> pd.DataFrame:
    return make_run(tmp_path_factory.mktemp("sim"), repeats=REPEATS, simulated=True)


@pytest.fixture(scope="module")
def table(run) -> pd.DataFrame:
    return consistency_table(run, kinds=("phash", "dhash"), n_boot=200)


def _images(ax) -> list[AxesImage]:
    return [a for a in ax.get_children() if isinstance(a, AxesImage)]


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


# --------------------------------------------------------------------------------------------
# Every plot: ax=None makes a figure, a given Axes is drawn on and returned, simulated is said


def _draw_each(frame: pd.DataFrame, table: pd.DataFrame):
    projection = projection_table([("dall-e-3 standard", "0.04")], per_day=(1, 20))
    projection["simulated"] = bool(frame["simulated"].any())
    div = divergence_table(frame)
    return {
        "heatmap": lambda ax: plots.distance_heatmap(frame, "steady", ax=ax),
        "distributions": lambda ax: plots.distance_distributions(frame, ax=ax),
        "histogram": lambda ax: plots.distance_histogram(frame, ax=ax),
        "intervals": lambda ax: plots.consistency_intervals(table, ax=ax),
        "divergence": lambda ax: plots.prompt_divergence(div, ax=ax),
        "divergence vs distance": lambda ax: plots.divergence_vs_image_distance(frame, ax=ax),
        "cost": lambda ax: plots.cost_projection(projection, ax=ax),
        "contact sheet": lambda ax: plots.contact_sheet(frame, ax=ax),
    }


@pytest.mark.parametrize(
    "name",
    [
        "heatmap",
        "distributions",
        "histogram",
        "intervals",
        "divergence",
        "divergence vs distance",
        "cost",
        "contact sheet",
    ],
)
def test_each_plot_draws_on_the_given_axes_and_labels_simulated_data(name, run, sim_run):
    real_table = consistency_table(run, kinds="phash", n_boot=50)
    sim_table = consistency_table(sim_run, kinds="phash", n_boot=50)

    before = plt.get_fignums()
    fig, ax = plt.subplots()
    assert _draw_each(run, real_table)[name](ax) is ax
    assert plt.get_fignums() == [*before, fig.number]  # nothing else opened
    assert "simulated" not in ax.get_title()

    made = _draw_each(sim_run, sim_table)[name](None)
    assert made is not ax and made.figure.number not in before
    assert made.get_title().endswith("(simulated)")


# --------------------------------------------------------------------------------------------
# What each one draws


def test_heatmap_shows_the_arm_matrix_with_its_values(run):
    ax = plots.distance_heatmap(run, "wobbly", prompt=PROMPTS[0])
    (image,) = _images(ax)
    values = image.get_array()
    assert values.shape == (REPEATS, REPEATS)
    assert np.all(np.diag(values) == 0)
    assert np.array_equal(values, values.T)
    assert values[np.triu_indices(REPEATS, 1)].min() > 0  # wobbly draws a new photo each time
    # Every cell is written out, and the ticks name the repeats.
    assert len(ax.texts) == REPEATS * REPEATS
    assert sorted(_texts(ax)) == sorted(f"{v:.2f}" for v in values.ravel())
    # One colour scale for every arm: 0 to where similarity is 0 (unrelated photographs).
    assert image.get_clim() == (0, pytest.approx(0.837, abs=0.01))
    assert "EfficientNet-Lite0" in ax.get_title()
    hashes = plots.distance_heatmap(run, "wobbly", prompt=PROMPTS[0], kind="phash")
    (bits,) = _images(hashes)
    assert sorted(_texts(hashes)) == sorted(str(int(v)) for v in bits.get_array().ravel())
    assert bits.get_clim() == (0, pytest.approx(31.43, abs=0.01))
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"r{r}" for r in range(REPEATS)]
    assert "wobbly" in ax.get_title() and PROMPTS[0] in ax.get_title()


def test_heatmap_without_prompt_labels_images_by_prompt(run):
    ax = plots.distance_heatmap(run, "steady")
    (image,) = _images(ax)
    assert image.get_array().shape == (2 * REPEATS, 2 * REPEATS)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "p1 r0" and labels[-1] == f"p2 r{REPEATS - 1}"


def test_distributions_one_box_and_all_pairs_per_arm_and_the_baseline(run):
    ax = plots.distance_distributions(run)
    pairs = within_arm_distances(run)
    # One box per arm (patch_artist boxes are patches), one scatter of points per arm.
    assert len(ax.patches) == 2
    assert len(ax.collections) == 2
    per_arm_pairs = 2 * math.comb(REPEATS, 2)
    for collection, arm in zip(ax.collections, ["steady", "wobbly"], strict=True):
        points = collection.get_offsets()
        assert len(points) == per_arm_pairs
        expected = sorted(pairs.loc[pairs["arm"] == arm, "distance"].astype(float))
        assert sorted(np.asarray(points)[:, 1]) == expected
    assert [t.get_text() for t in ax.get_xticklabels()] == ["steady", "wobbly"]
    (baseline,) = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert baseline.get_ydata()[0] == pytest.approx(pairs.attrs["baseline_distance"])
    assert "natural-photographs-v1" in ax.get_legend().get_texts()[0].get_text()


def test_histogram_one_step_line_per_arm_over_the_reference(run):
    histogram = distance_histogram(run)
    ax = plots.distance_histogram(histogram)
    steps = [line for line in ax.lines if line.get_linestyle() == "-"]
    assert [line.get_label() for line in steps] == ["steady", "wobbly"]
    for line, arm in zip(steps, ["steady", "wobbly"], strict=True):
        rows = histogram[histogram["arm"] == arm].sort_values("distance")
        assert list(line.get_ydata()) == pytest.approx(rows["share"].tolist())
    # The unrelated photographs' distances as bars, and similarity 0 as a dashed line.
    reference = histogram.attrs["reference"]
    assert reference.unit == "cosine distance" and histogram.attrs["kind"] == "efficientnet-lite0"
    assert len(ax.patches) == len(reference.histogram)
    bits = plots.distance_histogram(distance_histogram(run, "phash"))
    assert len(bits.patches) == 64 + 1 and "(bits)" in bits.get_xlabel()
    (zero,) = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert zero.get_xdata()[0] == pytest.approx(reference.distance)
    assert "natural-photographs-v1" in " ".join(t.get_text() for t in ax.get_legend().get_texts())


def test_intervals_one_errorbar_per_arm_at_the_table_values(table):
    ax = plots.consistency_intervals(table, kind="dhash")
    assert len(ax.containers) == 2
    rows = table[table["kind"] == "dhash"]
    for container, arm in zip(ax.containers, ["steady", "wobbly"], strict=True):
        line = container.lines[0]
        expected = rows[rows["arm"] == arm].set_index("prompt").loc[list(PROMPTS), "similarity"]
        assert np.allclose(line.get_ydata(), expected.to_numpy())
        assert container.get_label() == arm
    assert [t.get_text() for t in ax.get_xticklabels()] == list(PROMPTS)
    assert "dhash" in ax.get_title() and "natural-photographs-v1" in ax.get_title()
    assert ax.get_ylim() == (0, 1.05)


def test_intervals_validates(table):
    with pytest.raises(ValidationError, match="kind"):
        plots.consistency_intervals(table, kind="nope")
    with pytest.raises(ValidationError, match="ci_low"):
        plots.consistency_intervals(table.drop(columns="ci_low"))


def test_prompt_divergence_three_bars_per_arm_at_the_summary_means(run):
    div = divergence_table(run)
    summary = divergence_summary(div)
    ax = plots.prompt_divergence(div)
    assert len(ax.patches) == 3 * 2
    heights = [p.get_height() for p in ax.patches]
    expected = [
        *summary["jaccard_distance"],
        *summary["edit_distance"],
        *summary["content_dropped"],
    ]
    assert heights == pytest.approx(expected)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["Jaccard distance", "edit distance (normalized)", "content words dropped"]
    # One point per generation with a revised prompt (the failed ones have none).
    assert sum(len(c.get_offsets()) for c in ax.collections) == 2 * 2 * REPEATS


def test_divergence_vs_image_distance_one_point_per_generation(run):
    table = divergence_vs_distance(run)
    ax = plots.divergence_vs_image_distance(table)
    assert len(ax.collections) == 2
    for collection, arm in zip(ax.collections, ["steady", "wobbly"], strict=True):
        rows = table[table["arm"] == arm]
        points = np.asarray(collection.get_offsets())
        assert len(points) == len(rows) == 2 * REPEATS
        assert np.allclose(points[:, 0], rows["edit_distance"])
        assert np.allclose(points[:, 1], rows["image_distance"])
    assert "EfficientNet-Lite0" in ax.get_ylabel()
    # Given the run frame instead, it computes the same table.
    again = plots.divergence_vs_image_distance(run)
    assert np.allclose(again.collections[1].get_offsets(), ax.collections[1].get_offsets())


def test_cost_projection_one_line_per_label_with_the_lesson_figures():
    frame = projection_table(
        [("dall-e-3 standard", "0.04"), ("dall-e-3 hd", "0.08"), ("leonardo", "0.008")],
        per_day=(1, 20),
    )
    ax = plots.cost_projection(frame)
    assert len(ax.lines) == 3
    by_label = {line.get_label(): line for line in ax.lines}
    assert list(by_label["dall-e-3 standard"].get_ydata()) == [1.20, 24.00]
    assert list(by_label["dall-e-3 hd"].get_ydata()) == [2.40, 48.00]
    assert list(by_label["leonardo"].get_ydata()) == pytest.approx([0.24, 4.80])
    assert list(by_label["leonardo"].get_xdata()) == [1, 20]
    assert ax.get_xlabel() == "images per day"
    assert ax.get_ylabel() == "cost per month (USD)"
    assert "simulated" not in ax.get_title()


def test_cost_projection_draws_no_line_for_an_unknown_price():
    frame = pd.DataFrame(
        {
            "label": ["known", "known", "unknown", "unknown"],
            "images_per_day": [1, 10, 1, 10],
            "monthly_usd": [Decimal("1.20"), Decimal("12.00"), None, None],
        }
    )
    ax = plots.cost_projection(frame)
    assert [line.get_label() for line in ax.lines] == ["known"]
    with pytest.raises(ValidationError, match="monthly_usd"):
        plots.cost_projection(frame.drop(columns="monthly_usd"))


def test_contact_sheet_one_thumbnail_per_image_captioned_by_revised_prompt(run):
    ax = plots.contact_sheet(run, caption_chars=30)
    ok = run[run["status"] == "ok"]
    assert len(_images(ax)) == len(ok)
    texts = _texts(ax)
    # Rows are labelled by arm and prompt; captions are the revised prompts, shortened.
    assert sum(t.startswith("steady\n") for t in texts) == 2
    wobbly_caption = "an artful scene number 0 inspired by sofa"
    assert any(t.replace("\n", " ").startswith(wobbly_caption[:28]) for t in texts)
    assert any("…" in t for t in texts)  # the long rewrites are cut to caption_chars
    assert not ax.axison


def test_contact_sheet_limits_and_unreadable_images(run, tmp_path):
    one_prompt = run[run["prompt"] == PROMPTS[0]].copy()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    one_prompt.loc[one_prompt.index[0], "image_path"] = str(broken)
    one_prompt["revised_prompt"] = None
    ax = plots.contact_sheet(one_prompt, max_per_arm=2)
    assert len(_images(ax)) == 2 * 2
    texts = _texts(ax)
    assert "unreadable" in texts
    assert "repeat 1" in texts  # no revised prompt: the repeat is the caption
    assert PROMPTS[0] in ax.get_title()
    with pytest.raises(ValidationError, match="max_per_arm"):
        plots.contact_sheet(one_prompt, max_per_arm=0)


# --------------------------------------------------------------------------------------------
# As a person sees them: the lesson's four-arm drill, drawn at the sizes the notebooks, the
# drill panel and the report use. No text on text; every arm of the data named in the figure
# (or in a note saying why it has nothing to show). Each picture is kept in test-artifacts/.

LESSON_ARMS = ["dall-e-3", "dall-e-3+as_is", "gpt-image-1", "gpt-image-2.6-sunburst@responses"]
#: figure sizes: a notebook's default (ax=None), the drill panel's, the report's
SIZES = {"notebook": None, "panel": (6.4, 3.6), "report": (7.5, 4.5)}
PICTURES = ROOT_ARTIFACTS / "plots"


@pytest.fixture(scope="module")
def lesson(tmp_path_factory) -> pd.DataFrame:
    """Notebook 02's drill on the simulator: four arms (one never rewrites), five repeats."""
    import imgkit
    from imgkit.experiment.arms import LESSON_PROMPT

    folder = tmp_path_factory.mktemp("lesson")
    run = imgkit.drill([LESSON_PROMPT], LESSON_ARMS, n=5, out=folder, progress=False, log=None)
    return run.to_frame()


def _lesson_plots(frame: pd.DataFrame) -> dict:
    """name -> (draw(ax), the arms the figure must name)."""
    table = consistency_table(frame, kinds="phash", n_boot=200)
    projection = projection_table(
        ["dall-e-3:standard", "dall-e-3:hd", "gpt-image-2:medium", "leonardo-phoenix:auto"],
        per_day=(1, 20, 50, 500),
    )
    projection["simulated"] = True
    return {
        "heatmap": (lambda ax: plots.distance_heatmap(frame, "dall-e-3", ax=ax), ["dall-e-3"]),
        "distributions": (lambda ax: plots.distance_distributions(frame, ax=ax), LESSON_ARMS),
        "intervals": (lambda ax: plots.consistency_intervals(table, ax=ax), LESSON_ARMS),
        "divergence": (lambda ax: plots.prompt_divergence(frame, ax=ax), LESSON_ARMS),
        "divergence-table": (
            lambda ax: plots.prompt_divergence(divergence_table(frame), ax=ax, arms=LESSON_ARMS),
            LESSON_ARMS,
        ),
        "divergence-vs-distance": (
            lambda ax: plots.divergence_vs_image_distance(frame, ax=ax),
            LESSON_ARMS,
        ),
        "cost": (lambda ax: plots.cost_projection(projection, ax=ax), []),
        "contact-sheet": (lambda ax: plots.contact_sheet(frame, ax=ax), LESSON_ARMS),
    }


def _draw_at(draw, size):
    if size is None:
        return draw(None).figure
    figure = Figure(figsize=size)
    draw(figure.add_subplot())
    return figure


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize(
    "name",
    [
        "heatmap",
        "distributions",
        "intervals",
        "divergence",
        "divergence-table",
        "divergence-vs-distance",
        "cost",
        "contact-sheet",
    ],
)
def test_no_text_on_text_and_every_arm_named(lesson, name, size):
    draw, arms = _lesson_plots(lesson)[name]
    figure = _draw_at(draw, SIZES[size])
    PICTURES.mkdir(parents=True, exist_ok=True)
    figure.savefig(PICTURES / f"{name}-{size}.png", dpi=90, bbox_inches="tight")
    assert overlapping_texts(figure) == []
    assert missing_arms(figure, arms) == []


def test_contact_sheet_keeps_each_images_shape_and_captions_legible(lesson, tmp_path):
    from PIL import Image

    frame = lesson.copy()
    wide = tmp_path / "wide.png"
    Image.new("RGB", (1792, 1024), (200, 80, 40)).save(wide)
    frame.loc[frame.index[0], "image_path"] = str(wide)
    ax = plots.contact_sheet(frame)
    for image in _images(ax):
        left, right, bottom, top = image.get_extent()
        rows, columns = image.get_array().shape[:2]
        assert abs(right - left) / abs(bottom - top) == pytest.approx(columns / rows, rel=0.02)
    captions = [t for t in ax.texts if t.get_text().startswith(("repeat", "A ", "An ", "I"))]
    assert captions and min(t.get_fontsize() for t in captions) >= 8
    assert overlapping_texts(ax.figure) == []


def test_prompt_divergence_shows_every_measure_it_lists(lesson):
    # The simulator's dall-e-3 keeps every content word: "content words dropped" is 0 there,
    # a bar of no height. Each bar too low to see is written out instead.
    ax = plots.prompt_divergence(lesson)
    renderer = drawn(ax.figure)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    containers = [c for c in ax.containers if c.get_label() in labels]
    assert len(containers) == 3
    for container in containers:
        for bar in container.patches:
            box = bar.get_window_extent(renderer)
            if box.height >= 2:
                continue
            marks = [
                t for t in ax.texts if box.x0 - 1 <= t.get_window_extent(renderer).x0 <= box.x1
            ]
            assert marks, f"an invisible {container.get_label()} bar has no mark"


def test_divergence_scatter_legend_covers_no_point(lesson):
    ax = plots.divergence_vs_image_distance(lesson)
    renderer = drawn(ax.figure)
    legend = ax.get_legend().get_window_extent(renderer)
    for collection in ax.collections:
        points = ax.transData.transform(np.asarray(collection.get_offsets()))
        assert not any(legend.contains(x, y) for x, y in points)


def test_intervals_keep_points_off_the_edges(lesson):
    table = consistency_table(lesson[lesson["arm"].isin(LESSON_ARMS[:2])], n_boot=100)
    ax = plots.consistency_intervals(table)
    low, high = ax.get_xlim()
    for container in ax.containers:
        for x in container.lines[0].get_xdata():
            assert low + 0.1 * (high - low) <= x <= high - 0.1 * (high - low)


def test_cost_projection_uses_one_scale_on_both_axes():
    wide = projection_table([("a", "0.04"), ("b", "0.008")], per_day=(1, 20, 50, 500))
    ax = plots.cost_projection(wide)
    assert ax.get_xscale() == ax.get_yscale() == "log"
    # Straight-line costs stay straight: on log-log axes a cost proportional to volume is a line
    # of slope 1.
    for line in ax.lines:
        x, y = np.log10(line.get_xdata()), np.log10(line.get_ydata())
        assert np.allclose(np.diff(y) / np.diff(x), 1.0)
    narrow = projection_table([("a", "0.04")], per_day=(10, 20))
    ax = plots.cost_projection(narrow)
    assert ax.get_xscale() == ax.get_yscale() == "linear"
    ax = plots.cost_projection(wide, scale="linear")
    assert ax.get_xscale() == ax.get_yscale() == "linear"
    with pytest.raises(ValidationError, match="scale"):
        plots.cost_projection(wide, scale="symlog")
