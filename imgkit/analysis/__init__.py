"""Measuring a run: perceptual hashes, consistency between repeats, prompt rewriting.

- :mod:`imgkit.analysis.hashing`: perceptual hashes of images and distances between them
  (:mod:`~imgkit.analysis.whash` and :mod:`~imgkit.analysis.colorhash` compute two of them);
- :mod:`imgkit.analysis.consistency`: how alike an arm's repeats are, with intervals and tests
  (built on :mod:`~imgkit.analysis.generations`, :mod:`~imgkit.analysis.resampling` and
  :mod:`~imgkit.analysis.comparison`);
- :mod:`imgkit.analysis.divergence`: how far ``revised_prompt`` drifts from the prompt sent.

Each is DataFrame in, DataFrame out; drawing lives in :mod:`imgkit.report.plots`.
"""
