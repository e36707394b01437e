"""Stacked training and sampling (issue 24): a stacked member is its lone training, members are independent.

Tolerance.  A stacked member computes the same float32 operations as its lone training, but its
matrix products go through ``baddbmm``/``bmm`` over (K, B, .) (or ``vmap``) instead of ``addmm``,
whose kernels may block (and so round) their sums differently, and its per-member loss reduces
a (K, B) tensor along one axis instead of a (B,) tensor.  So member-vs-lone is checked with
atol 1e-5 / rtol 1e-4 on the trained weights after tens of Adam steps (a few ulps of float32 grown
over the steps; a wrong seed, draw order, lr or step count moves weights by 1e-3 or more), and
atol 1e-4 on samples after 25 DPM-Solver-2 steps (values O(1) to O(10)).  On torch 2.13 CPU builds
measured here the results were in fact bit-identical; the tolerance allows other BLAS builds.
Stacked-vs-stacked (a rerun; another member's lr) is required bit-identical.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch.nn import functional as F

from benchmark.diffusion.guidance import grad_log_of
from benchmark.diffusion.nets import make_denoiser, make_scalar_net
from benchmark.diffusion.samplers import sample
from benchmark.diffusion.stacked import MemberConfig, MemberData, StackedAdam, fit_stacked, fresh_members
from benchmark.diffusion.stacked_nets import StackedNet
from benchmark.diffusion.stacked_sampling import sample_stacked, stacked_grad_log_h
from benchmark.diffusion.training import fit_denoiser
from benchmark.seeding import torch_generator

CPU = torch.device("cpu")
TRAIN_TOL = dict(atol=1e-5, rtol=1e-4)
SAMPLE_TOL = dict(atol=1e-4, rtol=1e-4)


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def members(k: int = 4, conditional: bool = False, weights: bool = False, n: int = 160):
    gen = torch.Generator().manual_seed(7)
    data = [MemberData(torch.randn(n + 30 * i, 2, generator=gen), torch.randint(3, (n + 30 * i,), generator=gen),
                       torch.rand(n + 30 * i, generator=gen) + 0.5 if weights else None) for i in range(k)]
    configs = [MemberConfig(steps=12 + 4 * i, lr=1e-3 * (1 + i), batch=64, seed=100 + i, ema=0.9 if i == 1 else 0.0)
               for i in range(k)]
    build = lambda: make_denoiser("vector", (2,), 32, 3, 3 if conditional else None)  # noqa: E731
    return fresh_members(build, [c.seed for c in configs]), data, configs


def lone(model, d: MemberData, c: MemberConfig, conditional: bool) -> list[float]:
    return fit_denoiser(model, d.x, d.y if conditional else None, c.steps, c.batch, c.lr, torch_generator(c.seed), CPU,
                        weights=d.weights, ema_decay=c.ema)


def assert_states(a, b, **tol) -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(x, y, msg=name, **tol)


@pytest.mark.parametrize("conditional,weights,backend", [(False, False, "bmm"), (True, True, "bmm"), (True, False, "vmap")])
def test_member_matches_its_lone_training(conditional, weights, backend) -> None:
    models, data, configs = members(conditional=conditional, weights=weights)
    alone = [copy.deepcopy(m) for m in models]
    traces = fit_stacked(models, data, configs, backend=backend)
    for m, ref, d, c, trace in zip(models, alone, data, configs, traces):
        ref_trace = lone(ref, d, c, conditional)
        assert len(trace) == c.steps
        torch.testing.assert_close(torch.tensor(trace), torch.tensor(ref_trace), **TRAIN_TOL)
        assert_states(m, ref, **TRAIN_TOL)
        assert not m.training


def test_finetune_members_from_one_source_model() -> None:
    """Members start from copies of given weights (a source model), each with its own lr."""
    torch.manual_seed(0)
    source = make_denoiser("vector", (2,), 32, 2)
    _, data, _ = members(k=3)
    configs = [MemberConfig(steps=10, lr=lr, batch=64, seed=5) for lr in (1e-4, 1e-3, 1e-2)]
    models = [copy.deepcopy(source) for _ in configs]
    fit_stacked(models, data, configs)
    for m, d, c in zip(models, data, configs):
        ref = copy.deepcopy(source)
        lone(ref, d, c, False)
        assert_states(m, ref, **TRAIN_TOL)


def test_stacked_run_is_bit_identical_when_rerun() -> None:
    results = []
    for _ in range(2):
        models, data, configs = members(conditional=True, weights=True)
        traces = fit_stacked(models, data, configs)
        results.append((traces, [m.state_dict() for m in models]))
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1]):
        assert all(torch.equal(x, y) for x, y in zip(a.values(), b.values()))


def test_members_are_independent() -> None:
    """Member 2's lr and step count change; members 0, 1, 3 stay bit-identical."""
    runs = []
    for lr2, steps2 in ((1e-3, 20), (5e-2, 3)):
        models, data, configs = members()
        configs[2] = MemberConfig(steps=steps2, lr=lr2, batch=64, seed=configs[2].seed)
        traces = fit_stacked(models, data, configs)
        runs.append((traces, models))
    (t0, m0), (t1, m1) = runs
    for k in (0, 1, 3):
        assert t0[k] == t1[k]
        assert all(torch.equal(x, y) for x, y in zip(m0[k].state_dict().values(), m1[k].state_dict().values()))
    assert len(t1[2]) == 3 and t0[2][:1] == t1[2][:1]  # same first batch, then another lr


def test_members_need_one_batch_size() -> None:
    models, data, configs = members(k=2)
    configs[1] = MemberConfig(steps=5, lr=1e-3, batch=32, seed=1)
    with pytest.raises(ValueError, match="one batch size"):
        fit_stacked(models, data, configs)
    with pytest.raises(ValueError, match="one sample shape"):
        fit_stacked(models, [data[0], MemberData(torch.randn(40, 3))], [configs[0]] * 2)
    with pytest.raises(ValueError, match="lr > 0"):
        MemberConfig(steps=5, lr=0.0, batch=8, seed=0)


def test_stacked_adam_is_torch_adam() -> None:
    """One member of StackedAdam takes torch's foreach Adam steps (bit for bit)."""
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(3, 5, 4, generator=gen)
    ref = torch.nn.Parameter(w[1].clone())
    opt = torch.optim.Adam([ref], lr=3e-3, foreach=True)
    stacked = w.clone().requires_grad_(True)
    adam = StackedAdam([stacked])
    for _ in range(5):
        g = torch.randn(3, 5, 4, generator=gen)
        ref.grad, stacked.grad = g[1].clone(), g.clone()
        opt.step()
        adam.step(3, [1e-2, 3e-3, 1e-4])
    assert torch.equal(stacked[1].detach(), ref.detach())


@pytest.mark.parametrize("guided,lagged,max_rows", [(False, False, None), (True, False, None), (True, True, None),
                                                    (True, False, 250)])
def test_stacked_sampling_matches_lone_sampling(guided, lagged, max_rows) -> None:
    torch.manual_seed(0)
    k, n = 3, 300
    nets = [make_denoiser("vector", (2,), 32, 3, 3).eval() for _ in range(k)]
    hs = [make_scalar_net("vector", (2,), 16, 2, time=True, num_classes=3).eval() for _ in range(k)]
    labels = torch.randint(3, (k, n))
    to_log = lambda out: torch.log(F.softplus(out) + 1e-12)  # noqa: E731  (GuidanceNet.log_h for l2)
    grad = stacked_grad_log_h(StackedNet(hs), to_log) if guided else None
    xs = sample_stacked(StackedNet(nets), (2,), n, [torch_generator(10 + i) for i in range(k)], labels=labels,
                        grad_log_h=grad, lagged_guidance=lagged, batch_size=200, max_rows=max_rows)
    assert xs.shape == (k, n, 2)
    for i in range(k):
        g = grad_log_of(lambda x, t, y, h=hs[i]: to_log(h(x, t, y).squeeze(-1))) if guided else None
        ref = sample(lambda x, t, y, m=nets[i]: m(x, t, y), (2,), n, torch_generator(10 + i), labels=labels[i],
                     grad_log_h=g, lagged_guidance=lagged, batch_size=200)
        torch.testing.assert_close(xs[i], ref, **SAMPLE_TOL)


def test_unet_members_stack_by_vmap() -> None:
    """The ECG 1-D U-Net stacks through the vmap backend (a few steps, tiny sizes)."""
    build = lambda: make_denoiser("ecg", (2, 32), 8, 2)  # noqa: E731
    configs = [MemberConfig(steps=3, lr=1e-3 * (i + 1), batch=4, seed=i) for i in range(2)]
    models = fresh_members(build, [c.seed for c in configs])
    alone = [copy.deepcopy(m) for m in models]
    data = [MemberData(torch.randn(10, 2, 32, generator=torch.Generator().manual_seed(i))) for i in range(2)]
    fit_stacked(models, data, configs)
    for m, ref, d, c in zip(models, alone, data, configs):
        lone(ref, d, c, False)
        assert_states(m, ref, **TRAIN_TOL)


def test_lora_members_train_their_adapters_only() -> None:
    """LoRA members (vmap backend through the parametrisations): the adapters train, the base stays."""
    from benchmark.diffusion.lora import apply_lora

    torch.manual_seed(0)
    source = make_denoiser("vector", (2,), 32, 2)
    _, data, _ = members(k=3)
    configs = [MemberConfig(steps=8, lr=lr, batch=64, seed=3) for lr in (1e-3, 3e-3, 1e-2)]
    models = []
    for i in range(3):
        m = copy.deepcopy(source)
        apply_lora(m, 4, 4.0, generator=torch_generator(i))
        models.append(m)
    alone = [copy.deepcopy(m) for m in models]
    fit_stacked(models, data, configs)
    for m, ref, d, c in zip(models, alone, data, configs):
        fit_denoiser(ref, d.x, None, c.steps, c.batch, c.lr, torch_generator(c.seed), CPU,
                     params=[p for p in ref.parameters() if p.requires_grad])
        assert_states(m, ref, **TRAIN_TOL)
        assert torch.equal(m.head.parametrizations.weight.original, source.head.weight)


def test_fused_adam_members_match_lone_training_within_tolerance() -> None:
    """``fused_adam=True`` (torch's fused kernel per member): other rounding, same training."""
    models, data, configs = members()
    alone = [copy.deepcopy(m) for m in models]
    fit_stacked(models, data, configs, fused_adam=True)
    for m, ref, d, c in zip(models, alone, data, configs):
        lone(ref, d, c, False)
        assert_states(m, ref, **TRAIN_TOL)


def test_optimise_stacked_with_another_loss_matches_optimise() -> None:
    """A logistic classifier loss (no time): optimise_stacked member k = training.optimise alone."""
    from benchmark.diffusion.stacked import optimise_stacked
    from benchmark.diffusion.training import optimise

    gen = torch.Generator().manual_seed(3)
    x, lab = torch.randn(3, 50, 2, generator=gen), torch.randint(2, (3, 50), generator=gen).float()
    configs = [MemberConfig(steps=s, lr=lr, batch=16, seed=i) for i, (s, lr) in enumerate(((12, 1e-3), (9, 5e-3), (4, 1e-2)))]
    models = fresh_members(lambda: make_scalar_net("vector", (2,), 16, 2, time=False), [0, 1, 2])
    alone = [copy.deepcopy(m) for m in models]
    net = StackedNet(models)
    gens = [torch_generator(c.seed) for c in configs]

    def member_loss(step, a, params):
        idx = torch.stack([torch.randint(50, (16,), generator=g) for g in gens[:a]])  # (a, 16)
        xb, yb = torch.gather(x[:a], 1, idx[..., None].expand(-1, -1, 2)), torch.gather(lab[:a], 1, idx)
        return F.binary_cross_entropy_with_logits(net.forward(params, xb).squeeze(-1), yb, reduction="none").mean(1)

    losses = optimise_stacked(net, member_loss, configs)
    net.unstack_into(models)
    for k, (ref, c) in enumerate(zip(alone, configs)):
        g = torch_generator(c.seed)

        def loss(_: int, ref=ref, g=g, k=k) -> torch.Tensor:
            i = torch.randint(50, (16,), generator=g)
            return F.binary_cross_entropy_with_logits(ref(x[k, i]).squeeze(-1), lab[k, i])

        trace = optimise(ref.parameters(), loss, c.steps, c.lr)
        torch.testing.assert_close(losses[:c.steps, k], torch.tensor(trace), **TRAIN_TOL)
        assert_states(models[k], ref, **TRAIN_TOL)
