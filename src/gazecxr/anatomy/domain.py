"""How much an image looks like the localiser's training radiographs: a Mahalanobis in-domain score.

The descriptor is the mean-pooled stride-32 map of the frozen trunk ``(1280,)``. Fitted on the
training images: their mean, the top ``k`` principal axes and variances (shrunk toward their mean
by 10 %, so a small training set does not make every new image look far), the mean squared
residual off those axes, and the 99th percentile ``q99`` of the distances (both on held-out
training images, :meth:`DomainModel.fit`). The
squared distance is the Mahalanobis term in the ``k`` axes plus ``k`` x the residual relative to
the training mean: an image unlike any radiograph (a photo) differs mostly *off* the axes the
radiographs vary along, which the first term alone does not see (it scored a photograph 1.0). The score of an image at distance ``d`` is
``exp(-max(0, d - q99) / q99)``: 1 for an image as close as 99 % of the training images, 0.37 at
twice ``q99``, near 0 for a photo or a drawing (docs/anatomy.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SHRINK = 0.1


@dataclass
class DomainModel:
    """Attributes: ``mean (D,)``, ``axes (k, D)``, ``variances (k,)``, ``residual`` (mean squared
    residual of the training images, scalar tensor), ``q99`` (scalar tensor)."""

    mean: torch.Tensor
    axes: torch.Tensor
    variances: torch.Tensor
    residual: torch.Tensor
    q99: torch.Tensor

    @classmethod
    def fit(cls, descriptors: torch.Tensor, k: int) -> DomainModel:
        """``descriptors (N, D)`` of the training images (N >= 2).

        With N >= 20, every 5th image is held out: the axes come from the others and the residual
        scale and ``q99`` from the held-out ones, so that they describe images the axes have not
        seen (in-sample residuals are several times smaller than those of new radiographs).
        """
        x = descriptors.double()
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"the in-domain model needs (N >= 2, D) descriptors, got {tuple(x.shape)}")
        held = torch.arange(len(x)) % 5 == 4 if len(x) >= 20 else torch.ones(len(x), dtype=torch.bool)
        calibration = descriptors[held]
        x = x[~held] if len(x) >= 20 else x
        mean = x.mean(0)
        _, s, vh = torch.linalg.svd(x - mean, full_matrices=False)
        k = min(k, len(s))
        var = s[:k] ** 2 / (len(x) - 1)
        var = (1 - SHRINK) * var + SHRINK * var.mean()
        model = cls(mean.float(), vh[:k].float(), var.float(), torch.tensor(1.0), torch.tensor(0.0))
        model.residual = model._parts(calibration)[1].mean().clamp(min=1e-12)
        model.q99 = torch.quantile(model.distance(calibration), 0.99).float()
        return model

    def _parts(self, descriptors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        centred = descriptors.float() - self.mean
        z = centred @ self.axes.T
        residual = (centred - z @ self.axes).pow(2).sum(-1)
        return (z**2 / self.variances).sum(-1), residual

    def distance(self, descriptors: torch.Tensor) -> torch.Tensor:
        """``(N, D)`` -> distances ``(N,)``: sqrt(Mahalanobis^2 in the axes + k x residual / training mean)."""
        inside, residual = self._parts(descriptors)
        return (inside + len(self.variances) * residual / self.residual).sqrt()

    def score(self, descriptors: torch.Tensor) -> torch.Tensor:
        """``(N, D)`` -> in-domain scores ``(N,)`` in (0, 1]."""
        q = self.q99.clamp(min=1e-6)
        return torch.exp(-(self.distance(descriptors) - q).clamp(min=0) / q)

    def state(self) -> dict[str, torch.Tensor]:
        return {
            "mean": self.mean,
            "axes": self.axes,
            "variances": self.variances,
            "residual": self.residual.reshape(1),
            "q99": self.q99.reshape(1),
        }

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> DomainModel:
        return cls(
            state["mean"],
            state["axes"],
            state["variances"],
            state["residual"].reshape(()),
            state["q99"].reshape(()),
        )
