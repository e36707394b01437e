"""What a metric function receives."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING, Any, Callable, Optional

import torch

from benchmark.api import TaskData

if TYPE_CHECKING:
    from benchmark.artifacts import ArtifactCache


@dataclass
class EvalContext:
    """Generated ``samples`` (N, *shape) with optional ``labels`` (N,), the task data
    (whose held-out ``test_x`` the metrics compare against), the eval seed and device,
    and the artifact cache (for cached evaluation stages such as a feature classifier).

    ``derive(purpose, *extra)`` derives a seed from the run's axes (what ``FitContext.seed``
    gives at fit time), for :meth:`benchmark.api.Method.evaluate`; ``outputs`` collects the
    arrays that hook keeps for figures (saved to ``outputs.npz``)."""

    data: TaskData
    samples: torch.Tensor
    labels: Optional[torch.Tensor]
    seed: int
    device: torch.device
    cache: Optional["ArtifactCache"] = None
    suite_seed: int = 0
    derive: Optional[Callable[..., int]] = None
    outputs: dict[str, Any] = field(default_factory=dict)


def metric_doc(fn: Callable[..., Any]) -> str:
    """The first paragraph of a metric's docstring, recorded as 'how it was computed'."""
    doc = (fn.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(doc.split())
