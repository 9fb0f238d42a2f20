"""Learned image features: networks that describe what an image shows, run without torch.

- :mod:`.networks`: the registry (names, versions, weights, licences); imports nothing heavy;
- :mod:`.extract`: :func:`~imgkit.features.extract.get_extractor`, images in, unit vectors out;
  the embedded EfficientNet-Lite0 on onnxruntime;
- :mod:`.efficientnet_lite`, :mod:`.onnx_proto`, :mod:`.torch_weights`: how the embedded
  network is built from the weights that install with imgkit;
- :mod:`.hub`: DINOv2, CLIP and SigLIP through transformers (``imgkit[hub]``);
- :mod:`.decoding`: opening images, for hashes and networks alike; :mod:`.cache`: figures kept
  on this machine between processes.

Which measure a figure comes from, and its scale, is :mod:`imgkit.analysis.measures` and
:mod:`imgkit.analysis.reference`.
"""
