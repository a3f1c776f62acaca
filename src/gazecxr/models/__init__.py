"""Stage-1 networks behind one interface (:class:`GazeCXRNet`), their encoders and Grad-CAM.

Members are imported on first access, so loading a config does not import torch.
"""

from gazecxr._lazy import lazy_members

__getattr__, __dir__, __all__ = lazy_members(
    __name__,
    {
        "gradcam": "gazecxr.models.cam",
        "GazeCXRNet": "gazecxr.models.base",
        "build_model": "gazecxr.models.registry",
        "ModelOutput": "gazecxr.models.output",
        "WeightsError": "gazecxr.models.weights",
        "load_into": "gazecxr.models.weights",
        "read_state_dict": "gazecxr.models.weights",
    },
)
