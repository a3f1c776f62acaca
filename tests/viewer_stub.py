"""A stand-in analyzer for the viewer tests (a helper, not tests): no model, real image reading."""

from __future__ import annotations

import io
import threading

import numpy as np
from PIL import Image

from gazecxr.prediction import Anatomy, Prediction
from gazecxr.viewer.analyzer import Analysis, read_for

LABELS = ["Atelectasis", "Pleural abnormality"]


class MeanAnalyzer:
    """Probability of label 0 = mean intensity of the image; attention peaks where the image is brightest."""

    name = "fake-run"
    writer = "template"

    def __init__(self) -> None:
        self.max_parallel = 0
        self._active = 0
        self._lock = threading.Lock()

    read = staticmethod(read_for(32, 50_000_000))  # the real read, for a 32 px model

    def analyze(self, radiograph, anatomy_boxes=None):  # noqa: ANN001, ANN201 - protocol
        image = radiograph.model_input
        with self._lock:
            self._active += 1
            self.max_parallel = max(self.max_parallel, self._active)
        try:
            threading.Event().wait(0.02)  # widen the window in which requests overlap
            mean = float(np.mean(image))
            small = np.asarray(Image.fromarray(image.astype(np.float32), mode="F").resize((4, 4)))
            attention = small / small.sum() if small.sum() > 0 else np.full((4, 4), 1 / 16)
            pred = Prediction(
                labels=LABELS,
                probabilities=np.array([mean, 1 - mean]),
                thresholds=np.array([0.5, 0.5]),
                attention=attention,
                image_size=radiograph.size,
                anatomy=Anatomy.from_dataset(anatomy_boxes)
                if anatomy_boxes
                else Anatomy({"left lung": (0.5, 0.1, 0.9, 0.9)}, {"left lung": "atlas"}, {}, "atlas"),
                image_path=radiograph.path,
                class_attention=np.stack([attention, np.eye(4) / 4]),  # one map per label
            )
            report = {
                "writer": self.writer,
                "findings": [{"name": n, "regions": ["left lung"]} for n in pred.positive],
                "region_mass": {"left lung": 0.4},
            }
            return Analysis(prediction=pred, report_text=f"mean {mean:.4f}", report=report)
        finally:
            with self._lock:
                self._active -= 1


def png_of(value: float, size: int = 32) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size), round(value * 255), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


LOCAL = "http://127.0.0.1:8000"  # the viewer answers only to the names it was started for
