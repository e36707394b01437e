"""domain-cfg: classifier-free guidance on a domain label (the CFG baseline of the domain-guidance papers).

Source: classifier-free guidance (Ho & Salimans 2022, arXiv 2207.12598) with the domain as the
label, the baseline against which domain guidance is compared (Zhong et al., "Domain Guidance",
ICLR 2025, arXiv 2504.01521; DogFit, arXiv 2508.05685).

One denoiser eps_theta(x_t, t, k) with a domain token k in {0 = source, 1 = target, 2 = null},
trained by denoising score matching on source ∪ target: each batch holds ``target_batch``
target draws (with replacement: the n targets oversampled against the m sources, the adaptation
rule of every method) and round(target_batch (1 - target_frac) / target_frac) uniform source
draws, so the target samples are a fraction ``target_frac`` of it; each token is replaced by the
null token with probability ``null_prob``.  Sampling:

    eps(x_t, t) = eps_theta(x_t, t, null) + w (eps_theta(x_t, t, target) - eps_theta(x_t, t, null)),

w = 1 samples the target-token model alone.  ``mode = finetune`` (default) starts from the
cached source model with a zero-initialised token embedding (so every token is the source model
at step 0) and trains for the ``finetune`` block's budget (finetune_steps, finetune_lr,
target_batch); ``retrain`` starts from a fresh network with the source budget (source_epochs
over m + n samples, lr), in the batches above.  The trained joint model is a cached stage: rows that differ only in w share it.
"""

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

import torch

from benchmark.api import FitContext
from benchmark.denoiser_methods import (TARGET_BATCHES, DenoiserMethod, FinetuneParams, source_denoiser, source_key,
                                        stage_seed)
from benchmark.diffusion.nets import make_denoiser
from benchmark.diffusion.schedule import VPSchedule
from benchmark.diffusion.training import optimise
from benchmark.params import bounds
from benchmark.registry import register_method
from benchmark.seeding import seed_everything, torch_generator
from benchmark.stage_configs import tunable, uniform

SOURCE, TARGET, NULL = 0, 1, 2


@dataclass(frozen=True)
class DomainCFGParams(FinetuneParams):
    w: float = tunable(1.5, uniform(1.0, 4.0), ge=0)
    null_prob: float = 0.1
    target_frac: float = field(default=0.5, metadata=bounds(gt=0, le=1))
    mode: Literal["finetune", "retrain"] = "finetune"


def source_draws(target_batch: int, target_frac: float) -> int:
    """The source draws beside ``target_batch`` target draws that make the targets ``target_frac`` of a batch."""
    return round(target_batch * (1.0 - target_frac) / target_frac)


def domain_batch(m: int, n: int, n_source: int, n_target: int, null_prob: float,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(source indices, target indices, tokens of the concatenated batch): ``n_source`` uniform source
    draws and ``n_target`` target draws, both with replacement; tokens dropped to NULL w.p. null_prob."""
    i_s = torch.randint(m, (n_source,), generator=generator)
    i_t = torch.randint(n, (n_target,), generator=generator)
    tokens = torch.cat([torch.full((n_source,), SOURCE), torch.full((n_target,), TARGET)])
    drop = torch.rand(n_source + n_target, generator=generator) < null_prob
    return i_s, i_t, tokens.masked_fill(drop, NULL)


@register_method("domain-cfg", "classifier-free guidance on a domain token (source/target/null) trained on "
                 "source ∪ target: eps_null + w (eps_target - eps_null) (CFG, arXiv 2207.12598, as a transfer baseline)")
class DomainCFG(DenoiserMethod):
    source = "published"
    Params = DomainCFGParams

    def _joint(self, ctx: FitContext) -> torch.nn.Module:
        p, d = self.params, ctx.data
        n_src = source_draws(p.target_batch, p.target_frac)
        if p.mode == "finetune":
            steps, lr = p.finetune_steps, p.finetune_lr
        else:
            steps, lr = p.source_epochs * math.ceil((len(d.source_x) + len(d.target_x)) / (n_src + p.target_batch)), p.lr
        key: dict[str, Any] = {"source": source_key(ctx, p, False), "target": d.target_key, "mode": p.mode,
                               "steps": steps, "lr": lr, "target_batch": p.target_batch, "source_draws": n_src,
                               "batches": TARGET_BATCHES, "null_prob": p.null_prob, "target_frac": p.target_frac}

        def make() -> torch.nn.Module:
            return make_denoiser(d.kind, d.sample_shape, p.width, p.depth, num_classes=3)

        def build() -> dict[str, Any]:
            init = source_denoiser(ctx, p) if p.mode == "finetune" else None
            seed = stage_seed(ctx, "domain-cfg", key)
            seed_everything(seed)
            model = make()
            if init is not None:  # the source weights; the new token table starts at zero
                missing, unexpected = model.load_state_dict(init.state_dict(), strict=False)
                assert not unexpected and all("label" in k for k in missing), (missing, unexpected)
                for name, param in model.named_parameters():
                    if name in missing:
                        torch.nn.init.zeros_(param)
            model.to(ctx.device).train()
            gen, sched = torch_generator(seed), VPSchedule()
            xs, xt = d.source_x.to(ctx.device), d.target_x.to(ctx.device)

            def loss(_: int) -> torch.Tensor:
                i_s, i_t, tok = domain_batch(len(xs), len(xt), n_src, p.target_batch, p.null_prob, gen)
                x0 = torch.cat([xs[i_s.to(ctx.device)], xt[i_t.to(ctx.device)]])
                t = sched.sample_t(len(x0), gen).to(ctx.device)
                eps = torch.randn(x0.shape, generator=gen).to(ctx.device)
                return (model(sched.noise(x0, t, eps), t, tok.to(ctx.device)) - eps).pow(2).flatten(1).mean(1).mean()

            trace = optimise(model.parameters(), loss, steps, lr, ctx.progress, desc="domain-cfg",
                             checkpoint=ctx.stage_checkpoint("domain-cfg", key), generators=(gen,),
                             modules=(model,), log=ctx.log)
            ctx.log.info("domain-cfg trained: %d steps, final loss %.4f", steps,
                         sum(trace[-50:]) / max(1, len(trace[-50:])))
            return {"state": {k: v.cpu() for k, v in model.state_dict().items()}}

        payload = ctx.cache.get_or_build("domain-cfg", key, build)
        ctx.add_cached_cost("domain-cfg", key, steps, steps * p.target_batch)
        model = make()
        model.load_state_dict(payload["state"])
        return model

    def fit(self, ctx: FitContext) -> None:
        self._bind(ctx, self._joint(ctx))

    def eps(self, x: torch.Tensor, t: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        tok = torch.full((x.shape[0],), NULL, device=x.device, dtype=torch.long)
        e_null = self.model(x, t, tok)
        e_tgt = self.model(x, t, tok.fill_(TARGET))
        return e_null + self.params.w * (e_tgt - e_null)
