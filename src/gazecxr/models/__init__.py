"""Stage-1 networks behind one interface (:class:`GazeCXRNet`), their encoders and Grad-CAM."""

from gazecxr.models.gradcam import gradcam
from gazecxr.models.net import GazeCXRNet, build_model
from gazecxr.models.output import ModelOutput
from gazecxr.models.weights import WeightsError, load_weights, read_state_dict

__all__ = [
    "GazeCXRNet",
    "ModelOutput",
    "WeightsError",
    "build_model",
    "gradcam",
    "load_weights",
    "read_state_dict",
]
