"""The VP-SDE with a linear beta(t) from beta_0 = 0.1 to beta_1 = 20 on t in [0, 1].

    log alpha_t = -1/2 (beta_0 t + 1/2 (beta_1 - beta_0) t^2)
    sigma_t     = sqrt(1 - alpha_t^2)
    lambda_t    = log(alpha_t / sigma_t)                 (half log-SNR)
    x_t         = alpha_t x_0 + sigma_t eps,  eps ~ N(0, I)

The inverse of lambda_t: with L = log(1 + e^{-2 lambda}),
    t(lambda) = 2 L / (sqrt(beta_0^2 + 2 (beta_1 - beta_0) L) + beta_0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class VPSchedule:
    beta_0: float = 0.1
    beta_1: float = 20.0
    t_min: float = 1e-3

    def log_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return -0.5 * (self.beta_0 * t + 0.5 * (self.beta_1 - self.beta_0) * t**2)

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.log_alpha(t))

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(-torch.expm1(2.0 * self.log_alpha(t)))

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        return self.beta_0 + (self.beta_1 - self.beta_0) * t

    def lam(self, t: torch.Tensor) -> torch.Tensor:
        """Half log-SNR lambda_t = log alpha_t - log sigma_t."""
        la = self.log_alpha(t)
        return la - 0.5 * torch.log(-torch.expm1(2.0 * la))

    def inverse_lam(self, lam: torch.Tensor) -> torch.Tensor:
        """t such that lambda_t = lam."""
        big_l = torch.logaddexp(torch.zeros_like(lam), -2.0 * lam)
        return 2.0 * big_l / (torch.sqrt(self.beta_0**2 + 2.0 * (self.beta_1 - self.beta_0) * big_l) + self.beta_0)

    def noise(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x_t = alpha_t x_0 + sigma_t eps with t: (B,) broadcast over x0: (B, ...)."""
        shape = (-1,) + (1,) * (x0.dim() - 1)
        return self.alpha(t).view(shape) * x0 + self.sigma(t).view(shape) * eps

    def sample_t(self, n: int, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
        """Training times t ~ U[t_min, 1] drawn on the CPU generator."""
        return (self.t_min + (1.0 - self.t_min) * torch.rand(n, generator=generator)).to(device)
