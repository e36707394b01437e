"""LoRA on torch parametrize, checked against peft as an oracle (Linear and Conv1d)."""

from __future__ import annotations

import copy

import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch import nn
from torch.nn.utils import parametrize

from benchmark.diffusion.lora import apply_lora, lora_modules, merge_lora
from benchmark.diffusion.nets import EpsMLP
from benchmark.diffusion.training import fit_denoiser

RANK, ALPHA = 4, 8


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def names_of(model: nn.Module, kind: type) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, kind)]


def adapted(base: nn.Module) -> tuple[nn.Module, list[nn.Parameter]]:
    ours = copy.deepcopy(base)
    adapters = apply_lora(ours, RANK, float(ALPHA), generator=gen(1))
    with torch.no_grad():  # a trained adapter: B != 0
        for delta in lora_modules(ours).values():
            delta.lora_B.copy_(0.1 * torch.randn(delta.lora_B.shape, generator=gen(2)))
    return ours, adapters


def peft_twin(base: nn.Module, ours: nn.Module, kind: type) -> nn.Module:
    """peft adapters on a copy of ``base`` with our A and B copied in."""
    names = names_of(base, kind)
    model = get_peft_model(copy.deepcopy(base), LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=names,
                                                           lora_dropout=0.0))
    inner = model.base_model.model
    with torch.no_grad():
        for name, delta in lora_modules(ours).items():
            layer = inner.get_submodule(name)
            a, b = layer.lora_A["default"].weight, layer.lora_B["default"].weight
            a.copy_(delta.lora_A.view(a.shape))
            b.copy_(delta.lora_B.view(b.shape))
    return model


def base_mlp() -> EpsMLP:
    torch.manual_seed(0)
    return EpsMLP(2, width=16, depth=2, num_classes=3)


def test_linear_lora_matches_peft_forward_and_merge() -> None:
    base = base_mlp()
    ours, _ = adapted(base)
    assert sorted(lora_modules(ours)) == sorted(names_of(base, nn.Linear))  # time_proj, body.*, head
    twin = peft_twin(base, ours, nn.Linear)
    x, t, y = torch.randn(32, 2, generator=gen(3)), torch.rand(32, generator=gen(4)), torch.arange(32) % 3
    with torch.no_grad():
        out, ref, plain = ours(x, t, y), twin(x, t, y), base(x, t, y)
    assert torch.allclose(out, ref, atol=1e-6)
    assert not torch.allclose(out, plain, atol=1e-3)  # the adapters do something

    merged_ours, merged_peft = merge_lora(ours), twin.merge_and_unload()
    assert not any(parametrize.is_parametrized(m) for m in merged_ours.modules())
    sd_ours, sd_peft = merged_ours.state_dict(), merged_peft.state_dict()
    assert sd_ours.keys() == sd_peft.keys() == base.state_dict().keys()
    for k in sd_ours:
        assert torch.allclose(sd_ours[k], sd_peft[k], atol=1e-6), k
    with torch.no_grad():
        assert torch.allclose(merged_ours(x, t, y), ref, atol=1e-5)


def test_conv1d_lora_matches_peft() -> None:
    torch.manual_seed(0)
    base = nn.Sequential(nn.Conv1d(3, 8, 5, padding=2), nn.SiLU(), nn.Conv1d(8, 4, 3, padding=1))
    ours, _ = adapted(base)
    assert sorted(lora_modules(ours)) == ["0", "2"]
    twin = peft_twin(base, ours, nn.Conv1d)
    x = torch.randn(6, 3, 20, generator=gen(5))
    with torch.no_grad():
        assert torch.allclose(ours(x), twin(x), atol=1e-6)
        assert not torch.allclose(ours(x), base(x), atol=1e-3)
    merged_ours, merged_peft = merge_lora(ours), twin.merge_and_unload()
    for k, v in merged_ours.state_dict().items():
        assert torch.allclose(v, merged_peft.state_dict()[k], atol=1e-6), k
    # the merge is W + (alpha / r) B A reshaped to (out, in, k)
    delta = lora_modules(adapted(base)[0])["0"]
    expected = base[0].weight + (ALPHA / RANK) * (delta.lora_B @ delta.lora_A).view(8, 3, 5)
    assert torch.allclose(merged_ours[0].weight, expected, atol=1e-6)


def test_fresh_adapters_start_at_the_base_model_and_only_they_train() -> None:
    base = base_mlp()
    model = copy.deepcopy(base)
    adapters = apply_lora(model, RANK, float(ALPHA), generator=gen(1))
    deltas = lora_modules(model)
    assert all(torch.count_nonzero(d.lora_B) == 0 for d in deltas.values())
    assert all(torch.count_nonzero(d.lora_A) > 0 for d in deltas.values())
    x, t, y = torch.randn(16, 2, generator=gen(3)), torch.rand(16, generator=gen(4)), torch.arange(16) % 3
    with torch.no_grad():
        assert torch.equal(model(x, t, y), base(x, t, y))
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert {id(p) for p in trainable} == {id(p) for p in adapters}
    linears = [m for m in base.modules() if isinstance(m, nn.Linear)]
    assert sum(p.numel() for p in adapters) == sum(RANK * (m.in_features + m.out_features) for m in linears)
    # A follows peft's init: Kaiming-uniform with a = sqrt(5), i.e. |A| <= 1 / sqrt(fan_in)
    for name, d in deltas.items():
        assert d.lora_A.abs().max() <= model.get_submodule(name).in_features ** -0.5

    frozen = {k: v.clone() for k, v in model.state_dict().items() if "lora_" not in k}
    fit_denoiser(model, torch.randn(64, 2, generator=gen(6)), torch.arange(64) % 3, 5, 32, 1e-2, gen(7),
                 torch.device("cpu"), params=adapters)
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in frozen.items())  # base weights, biases, embeddings
    assert all(torch.count_nonzero(d.lora_B) > 0 for d in deltas.values())


def test_lora_rank_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rank must be >= 1"):
        apply_lora(base_mlp(), 0, 1.0)


def test_lora_init_is_seeded() -> None:
    a = lora_modules(adapted(base_mlp())[0])
    b = lora_modules(adapted(base_mlp())[0])
    assert all(torch.equal(a[k].lora_A, b[k].lora_A) for k in a)
