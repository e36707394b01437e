"""12-lead conventions.

Records are (12, L) arrays in the order LEADS_12 at 100 Hz.  Only 8 leads are
independent (I, II, V1-V6); the models generate those (shape (8, L)) and the limb leads
follow from Einthoven's and Goldberger's relations:

    III = II - I,  aVR = -(I + II)/2,  aVL = I - II/2,  aVF = II - I/2.
"""

from __future__ import annotations

import torch

LEADS_12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
LEADS_8 = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
INDEPENDENT_INDEX = tuple(LEADS_12.index(name) for name in LEADS_8)
SAMPLE_RATE_HZ = 100


def to_independent(x12: torch.Tensor) -> torch.Tensor:
    """(N, 12, L) -> (N, 8, L): keep I, II, V1-V6."""
    return x12[:, list(INDEPENDENT_INDEX)]


def reconstruct_12(x8: torch.Tensor) -> torch.Tensor:
    """(N, 8, L) in LEADS_8 order -> (N, 12, L) in LEADS_12 order."""
    lead_i, lead_ii, chest = x8[:, 0], x8[:, 1], x8[:, 2:]
    limb = torch.stack([lead_i, lead_ii, lead_ii - lead_i, -(lead_i + lead_ii) / 2,
                        lead_i - lead_ii / 2, lead_ii - lead_i / 2], dim=1)
    return torch.cat([limb, chest], dim=1)
