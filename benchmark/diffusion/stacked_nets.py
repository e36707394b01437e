"""K networks of one architecture held as stacked tensors and evaluated as one.

:class:`StackedNet` takes K modules with the same parameter names and shapes and keeps
``params[name]: (K, *shape)`` (and the buffers likewise).  Its forward maps

    x: (K, B, *in_shape), t: (K, B) | None, y: (K, B) | None  ->  (K, B, *out_shape),

member k reading only slice k of every tensor.  Two backends compute it:

- ``bmm`` (for :class:`~benchmark.diffusion.nets.TimeMLP`: the denoiser, classifier and
  guidance MLPs): every Linear is one ``torch.baddbmm(b[:, None], h, W^T)`` over the K
  members, the label embedding one gather;
- ``vmap`` (any module, e.g. the 1-D U-Net): ``torch.func.vmap`` of
  ``torch.func.functional_call`` over the member axis.

Members never mix: a member's outputs depend on its own slices only (the kernels work per
member), so a change to one member's weights leaves the others' outputs bit-identical.
Against the lone module the outputs agree to float32 rounding (baddbmm and addmm may block
their sums differently); on the torch 2.13 CPU build measured here they are bit-identical, and
so is a whole stacked training (tests/test_stacked.py states the tolerance it allows).  Storing
the weights transposed, (K, in, out), makes a stacked Linear's forward + backward about 10 %
faster at B = 100 (no copy of the weight gradient) but loses that bit-identity, so W stays (K, out, in).
"""

from __future__ import annotations

import copy
from typing import Callable, Literal, Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from benchmark.diffusion.layers import sinusoidal_embedding
from benchmark.diffusion.nets import TimeMLP

Backend = Literal["auto", "bmm", "vmap"]
#: ``forward(params, x: (K, B, ...), t: (K, B) | None, y: (K, B) | None) -> (K, B, ...)``
StackedForward = Callable[[dict, torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]], torch.Tensor]


def _linear(p: dict[str, torch.Tensor], name: str, h: torch.Tensor) -> torch.Tensor:
    """h: (K, B, in), W: (K, out, in), b: (K, out) -> (K, B, out)."""
    return torch.baddbmm(p[f"{name}.bias"].unsqueeze(1), h, p[f"{name}.weight"].transpose(1, 2))


def mlp_forward(template: TimeMLP) -> StackedForward:
    """The stacked forward of a :class:`TimeMLP` (same arithmetic as ``TimeMLP.forward``)."""
    linears = [f"body.{i}" for i, m in enumerate(template.body) if isinstance(m, nn.Linear)]
    embed_dim = template.embed_dim

    def forward(p, x, t=None, y=None):
        k, b = x.shape[:2]
        parts = [x.flatten(2)]
        emb = None
        if "time_proj.weight" in p:
            emb = _linear(p, "time_proj", sinusoidal_embedding(t.reshape(-1), embed_dim).view(k, b, embed_dim))
        if "label_embed.weight" in p:
            if y is None:
                raise ValueError("this network is label-conditional; pass labels y")
            table = p["label_embed.weight"]  # (K, C, E)
            le = table[torch.arange(k, device=table.device)[:, None], y.long()]
            emb = le if emb is None else emb + le
        if emb is not None:
            parts.append(F.silu(emb))
        h = torch.cat(parts, dim=2)
        for name in linears:
            h = F.silu(_linear(p, name, h))
        return _linear(p, "head", h)

    return forward


def vmap_forward(template: nn.Module) -> StackedForward:
    """``vmap`` of ``functional_call(template, params_k, (x_k, t_k, y_k))`` over the members."""

    def one(p, x, t, y):
        return torch.func.functional_call(template, p, (x, t, y))

    def forward(p, x, t=None, y=None):
        dims = (0, 0, None if t is None else 0, None if y is None else 0)
        return torch.func.vmap(one, in_dims=dims)(p, x, t, y)

    return forward


class StackedNet:
    """K same-architecture modules as stacked tensors ``params[name]: (K, *shape)`` (the parameters
    that require grad; the frozen ones, e.g. LoRA's base weights, and the buffers in ``buffers``).

    ``net(x, t, y)`` evaluates all members (shapes in the module docstring);
    :meth:`unstack_into` writes member k back into an ordinary module."""

    def __init__(self, models: Sequence[nn.Module], backend: Backend = "auto") -> None:
        if not models:
            raise ValueError("StackedNet needs at least one member")
        names = [(n, tuple(v.shape)) for n, v in models[0].state_dict().items()]
        for i, m in enumerate(models[1:], 1):
            if [(n, tuple(v.shape)) for n, v in m.state_dict().items()] != names:
                raise ValueError(f"member {i} has another architecture than member 0")
        self.k = len(models)
        self.template = copy.deepcopy(models[0])
        trainable = {n for n, p in models[0].named_parameters() if p.requires_grad}  # LoRA: the adapters only
        states = [m.state_dict() for m in models]
        self.params = {n: torch.stack([s[n].detach() for s in states]).clone() for n, _ in names if n in trainable}
        self.buffers = {n: torch.stack([s[n].detach() for s in states]).clone() for n, _ in names if n not in trainable}
        if backend == "auto":
            plain = not any("parametrizations" in n for n, _ in names)
            backend = "bmm" if isinstance(models[0], TimeMLP) and plain else "vmap"
        if backend == "bmm" and not (isinstance(models[0], TimeMLP) and not self.buffers):
            raise ValueError("the bmm backend stacks TimeMLP networks only; use backend='vmap'")
        self.backend = backend
        self._forward = mlp_forward(self.template) if backend == "bmm" else vmap_forward(self.template)

    def to(self, device: torch.device | str) -> "StackedNet":
        self.params = {n: v.to(device) for n, v in self.params.items()}
        self.buffers = {n: v.to(device) for n, v in self.buffers.items()}
        self.template.to(device)
        return self

    def forward(self, params: dict[str, torch.Tensor], x: torch.Tensor, t: Optional[torch.Tensor] = None,
                y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Members ``params``' leading axis (a prefix of the K, or all): x (a, B, ...) -> (a, B, ...)."""
        a = x.shape[0]
        full = {**params, **{n: v[:a] for n, v in self.buffers.items()}}
        return self._forward(full, x, t, y)

    def __call__(self, x: torch.Tensor, t: Optional[torch.Tensor] = None, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.forward(self.params, x, t, y)

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's state dict (copies, on the CPU)."""
        out = {n: v[k].detach().cpu().clone() for n, v in self.params.items()}
        out.update({n: v[k].detach().cpu().clone() for n, v in self.buffers.items()})
        return out

    def unstack_into(self, models: Sequence[nn.Module]) -> list[nn.Module]:
        """Load member k into ``models[k]`` (in place; each keeps its device); returns them."""
        if len(models) != self.k:
            raise ValueError(f"{len(models)} modules for {self.k} members")
        with torch.no_grad():
            for k, m in enumerate(models):
                own = dict(m.named_parameters())
                own.update(dict(m.named_buffers()))
                for n, v in {**self.params, **self.buffers}.items():
                    own[n].copy_(v[k])
        return list(models)
