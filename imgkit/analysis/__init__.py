"""Measuring a run: perceptual hashes, consistency between repeats, prompt rewriting.

- :mod:`imgkit.analysis.hashing`: perceptual hashes of images and distances between them;
- :mod:`imgkit.analysis.consistency`: how alike an arm's repeats are, with intervals and tests;
- :mod:`imgkit.analysis.divergence`: how far ``revised_prompt`` drifts from the prompt sent.

Each is DataFrame in, DataFrame out; drawing lives in :mod:`imgkit.report.plots`.
"""
