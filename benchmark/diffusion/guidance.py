"""The one place where guidance enters a sampler.

Networks predict noise; the score is s = -eps / sigma_t.  TGDP's theorem
grad log q_t = grad log p_t + grad log h  becomes, in noise space,

    eps_guided(x_t, t) = eps_theta(x_t, t) - gamma * sigma_t * grad_x log h(x_t, t)

with guidance scale gamma (1 reproduces q_t exactly when eps_theta and h are exact).
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

#: ``grad_log_h(x_t: (B, ...), t: (B,), labels: (B,) | None) -> (B, ...)``
GradLogH = Callable[[torch.Tensor, torch.Tensor, Optional[torch.Tensor]], torch.Tensor]


def guided_eps(eps: torch.Tensor, grad_log_h: torch.Tensor, sigma_t: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """eps - gamma * sigma_t * grad log h; ``sigma_t`` is (B,) and broadcast over eps."""
    shape = (-1,) + (1,) * (eps.dim() - 1)
    return eps - gamma * sigma_t.view(shape) * grad_log_h


def grad_log_of(log_h: Callable[[torch.Tensor, torch.Tensor, Optional[torch.Tensor]], torch.Tensor]) -> GradLogH:
    """Turn a network returning log h(x_t, t[, y]) of shape (B,) into grad_x log h by autograd.

    One extra backward pass per call; the graph is freed straight away.
    """

    def grad(x: torch.Tensor, t: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            out = log_h(x_in, t, labels).sum()
            (g,) = torch.autograd.grad(out, x_in)
        return g.detach()

    return grad
