"""How much an image looks like the localiser's training radiographs: a Mahalanobis in-domain score.

The descriptor is the mean-pooled stride-32 map of the frozen trunk ``(1280,)``. Fitted on the
training images: their mean, the top ``k`` principal axes and variances (shrunk toward their mean
by 10 %, so a small training set does not make every new image look far), and the 99th
percentile ``q99`` of the training images' distances. The score of an image at distance ``d`` is
``exp(-max(0, d - q99) / q99)``: 1 for an image as close as 99 % of the training images, 0.37 at
twice ``q99``, near 0 for a photo or a drawing (docs/anatomy.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SHRINK = 0.1


@dataclass
class DomainModel:
    """Attributes: ``mean (D,)``, ``axes (k, D)``, ``variances (k,)``, ``q99`` (scalar tensor)."""

    mean: torch.Tensor
    axes: torch.Tensor
    variances: torch.Tensor
    q99: torch.Tensor

    @classmethod
    def fit(cls, descriptors: torch.Tensor, k: int) -> DomainModel:
        """``descriptors (N, D)`` of the training images (N >= 2)."""
        x = descriptors.double()
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"the in-domain model needs (N >= 2, D) descriptors, got {tuple(x.shape)}")
        mean = x.mean(0)
        _, s, vh = torch.linalg.svd(x - mean, full_matrices=False)
        k = min(k, len(s))
        var = s[:k] ** 2 / (len(x) - 1)
        var = (1 - SHRINK) * var + SHRINK * var.mean()
        model = cls(mean.float(), vh[:k].float(), var.float(), torch.tensor(0.0))
        model.q99 = torch.quantile(model.distance(descriptors), 0.99).float()
        return model

    def distance(self, descriptors: torch.Tensor) -> torch.Tensor:
        """``(N, D)`` -> Mahalanobis distances ``(N,)`` in the principal subspace."""
        z = (descriptors.float() - self.mean) @ self.axes.T
        return (z**2 / self.variances).sum(-1).sqrt()

    def score(self, descriptors: torch.Tensor) -> torch.Tensor:
        """``(N, D)`` -> in-domain scores ``(N,)`` in (0, 1]."""
        q = self.q99.clamp(min=1e-6)
        return torch.exp(-(self.distance(descriptors) - q).clamp(min=0) / q)

    def state(self) -> dict[str, torch.Tensor]:
        return {"mean": self.mean, "axes": self.axes, "variances": self.variances, "q99": self.q99.reshape(1)}

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> DomainModel:
        return cls(state["mean"], state["axes"], state["variances"], state["q99"].reshape(()))
