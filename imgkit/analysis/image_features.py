"""Each image's value on a measure (its hash, or its feature vector), measured once and kept.

:func:`measure_images` is how every analysis gets what it compares. An image that lives in a run
folder (``RUN/images/<sha256>.<ext>``) has its values kept in that run's feature store
(:mod:`imgkit.runs.feature_store`) under the image's SHA-256 and the measure's name and
version: the first analysis decodes and measures it, every later one (the report, ``imgkit
check``, drift, the panel) reads the value back without decoding anything. An image anywhere
else is measured each time. A value that is missing, damaged or made by another version of the
measure is measured again and never trusted; a run folder that cannot be written (a read-only
copy) is measured in memory, with one warning.

Hash kinds of one size are computed together from one decode of each image.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imgkit.analysis.hashing import hash_bits, hash_images
from imgkit.analysis.measures import Measure
from imgkit.errors import ValidationError

__all__ = ["measure_images", "run_folder_of"]

_MANIFEST = "manifest.json"
_IMAGES = "images"
_warned: set[str] = set()


def run_folder_of(path: str | os.PathLike[str]) -> Path | None:
    """The run folder an image file belongs to (``RUN/images/<file>``), or None."""
    parent = Path(path).parent
    if parent.name != _IMAGES:
        return None
    run = parent.parent
    return run if (run / _MANIFEST).is_file() else None


def _payload_size(measure: Measure) -> int:
    if measure.learned:
        return measure.network.dim * 4
    return math.ceil(hash_bits(measure.name, measure.hash_size) / 4)


def _decode_value(measure: Measure, raw: bytes) -> Any:
    if measure.learned:
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    return raw.decode("ascii")


def _encode_value(measure: Measure, value: Any) -> bytes:
    if measure.learned:
        return np.ascontiguousarray(value, dtype="<f4").tobytes()
    return str(value).encode("ascii")


def _read_images(paths: Sequence[str]) -> tuple[list[bytes], list[str]]:
    data = []
    for path in paths:
        try:
            data.append(Path(path).read_bytes())
        except OSError as exc:
            raise ValidationError(
                "images", path, "a path to a readable image file", detail=str(exc)
            ) from exc
    return data, [hashlib.sha256(d).hexdigest() for d in data]


def _compute(measures: Sequence[Measure], images: Sequence[bytes]) -> dict[Measure, list[Any]]:
    """Every measure's values for ``images`` (bytes), hashes of one size from one decode."""
    out: dict[Measure, list[Any]] = {}
    hashes_by_size: dict[int, list[Measure]] = {}
    for measure in measures:
        if measure.learned:
            from imgkit.features.extract import get_extractor

            out[measure] = list(get_extractor(measure.name)(images)) if images else []
        else:
            hashes_by_size.setdefault(measure.hash_size, []).append(measure)
    for size, group in hashes_by_size.items():
        if not images:
            out.update({m: [] for m in group})
            continue
        kinds = tuple(m.name for m in group)
        frame = hash_images(list(images), kinds=kinds, hash_size=size, workers=1)
        for measure in group:
            out[measure] = frame[measure.name].tolist()
    return out


def _naming_the_file(error: ValidationError, names: Sequence[str]) -> ValidationError:
    """The decoders name an image given as bytes by its position (``bytes[3]:sha256=...``);
    a person needs the file."""
    match = re.match(r"bytes\[(\d+)\]", str(error.value))
    if not match or int(match.group(1)) >= len(names):
        return error
    detail = str(error).split(" (", 1)[1].rstrip(")") if " (" in str(error) else None
    return ValidationError(error.param, names[int(match.group(1))], error.allowed, detail=detail)


def measure_images(
    measures: Sequence[Measure],
    paths: Sequence[str | os.PathLike[str]],
    sha256s: Sequence[str | None] | None = None,
) -> dict[Measure, list[Any]]:
    """``{measure: [value per path]}``: hex strings for hashes, unit float32 vectors for
    networks, in the order of ``paths``.

    ``sha256s`` (optional, one per path, as a run's ledger records them) lets kept values be
    found without reading the images. Raises :class:`ValidationError` naming an image that
    cannot be read or decoded.
    """
    paths = [os.fspath(p) for p in paths]
    known = list(sha256s) if sha256s is not None else [None] * len(paths)
    if len(known) != len(paths):
        raise ValidationError("sha256s", len(known), f"one per path ({len(paths)})")
    result: dict[Measure, list[Any]] = {m: [None] * len(paths) for m in measures}
    by_run: dict[Path | None, list[int]] = {}
    for position, path in enumerate(paths):
        by_run.setdefault(run_folder_of(path), []).append(position)
    for run, positions in by_run.items():
        _measure_group(measures, run, positions, paths, known, result)
    return result


def _measure_group(
    measures: Sequence[Measure],
    run: Path | None,
    positions: list[int],
    paths: list[str],
    known: list[str | None],
    result: dict[Measure, list[Any]],
) -> None:
    stores = {}
    kept: dict[Measure, dict[str, bytes]] = {}
    if run is not None:
        from imgkit.runs.feature_store import FeatureFile

        for measure in measures:
            stores[measure] = FeatureFile(run, measure.feature_key, _payload_size(measure))
            kept[measure] = stores[measure].read()
    # Images given without their SHA-256 (a folder of a run's images, `imgkit consistency
    # RUN/images`) are read and digested first, so that their kept values are found too: a
    # digest costs a read, never a decode. Each image is read at most once, and its bytes are
    # held only when some measure lacks its value (a 5,000-image folder of 1024 px PNGs is
    # 1.3 GB: holding it all made the command's peak 1.74 GB).
    read: dict[int, tuple[bytes, str]] = {}
    unknown = [p for p in positions if not known[p]] if any(kept.values()) else []
    for position in unknown:
        [data], [digest] = _read_images([paths[position]])
        if all(digest in kept.get(m, {}) for m in measures):
            data = b""  # every value is kept: the bytes are not needed again
        read[position] = (data, digest)
    todo: dict[Measure, list[int]] = {}
    for measure in measures:
        for position in positions:
            digest = known[position] or read.get(position, (b"", ""))[1]
            raw = kept.get(measure, {}).get(digest)
            if raw is not None:
                result[measure][position] = _decode_value(measure, raw)
            else:
                todo.setdefault(measure, []).append(position)
    if not todo:
        return
    # Each image that any measure lacks is read once; its SHA-256 is taken from the bytes read,
    # so a value is always filed under the image it was measured on. A chunk of images at a
    # time (a multiple of the extractor's batch, so that when every measure lacks the same
    # images the network sees the same batches as with all of them at once): only a chunk's
    # bytes and pixels are held (all 5,000 at once made a first report's peak 5.4 GB), and
    # each chunk's values are kept in the run folder before the next is read.
    needed = sorted({p for ps in todo.values() for p in ps})
    wanted_by = {measure: set(wanted) for measure, wanted in todo.items()}
    for start in range(0, len(needed), _MEASURE_CHUNK):
        chunk = needed[start : start + _MEASURE_CHUNK]
        unread = [p for p in chunk if p not in read]
        fresh_data, fresh_digests = _read_images([paths[p] for p in unread]) if unread else ([], [])
        read.update(zip(unread, zip(fresh_data, fresh_digests, strict=True), strict=True))
        # Measures that lack the same images (usually: all of them, the first time) are
        # computed together, so hashes of one size share one decode of each image.
        by_wanted: dict[tuple[int, ...], list[Measure]] = {}
        for measure, wanted in wanted_by.items():
            here = tuple(p for p in chunk if p in wanted)
            if here:
                by_wanted.setdefault(here, []).append(measure)
        for wanted, group in by_wanted.items():
            try:
                computed = _compute(group, [read[p][0] for p in wanted])
            except ValidationError as exc:
                raise _naming_the_file(exc, [paths[p] for p in wanted]) from exc
            for measure in group:
                values = computed[measure]
                for position, value in zip(wanted, values, strict=True):
                    result[measure][position] = value
                if measure not in stores:
                    continue
                fresh = {
                    read[p][1]: _encode_value(measure, v)
                    for p, v in zip(wanted, values, strict=True)
                }
                try:
                    stores[measure].append(fresh)
                except OSError as exc:
                    if str(run) not in _warned:
                        _warned.add(str(run))
                        warnings.warn(
                            f"could not keep measured features in {run}: {exc}; "
                            "measuring in memory",
                            stacklevel=3,
                        )
        for position in chunk:
            del read[position]  # the chunk's bytes are not needed again


#: Images measured together in a first analysis (a multiple of imgkit.features.extract.BATCH).
_MEASURE_CHUNK = 512
