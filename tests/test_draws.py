"""The protocol's hyper-parameter draws: draw 0 is the default, the others come from the declared
search spaces, are shared across trials and n_target, valid under the Params' bounds, and the
oracle rows are never tuned; ``list methods --search-space`` prints the spaces."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmark.params import resolve_params
from benchmark.protocol.draws import draw_hparams, draws, sample_value
from benchmark.registry import load_registries
from benchmark.stage_configs import Space, choice, int_log_uniform, log_uniform, search_space, uniform

REGS = load_registries()


def test_each_space_samples_inside_its_range() -> None:
    rng = np.random.default_rng(0)
    vals = [sample_value(log_uniform(1e-4, 1e-2), rng) for _ in range(2000)]
    assert all(1e-4 <= v <= 1e-2 for v in vals)
    logs = np.log10(vals)  # log-uniform: uniform in the exponent
    assert abs(np.mean(logs) - (-3.0)) < 0.05 and abs(np.mean(logs < -3.0) - 0.5) < 0.05
    ints = [sample_value(int_log_uniform(2, 64), rng) for _ in range(500)]
    assert all(isinstance(v, int) and 2 <= v <= 64 for v in ints) and len(set(ints)) > 10
    assert {sample_value(choice(2, 4, 8), rng) for _ in range(200)} == {2, 4, 8}
    assert all(1.0 <= sample_value(uniform(1.0, 4.0), rng) <= 4.0 for _ in range(200))
    with pytest.raises(ValueError):
        Space("log-uniform", 0.0, 1.0)
    with pytest.raises(ValueError):
        Space("uniform", 2.0, 1.0)


@pytest.mark.parametrize("name", [e.name for e in REGS.methods])
def test_draws_are_valid_configurations_of_every_method(name: str) -> None:
    cls = REGS.methods.get(name)
    configs = draws(cls.Params, 8, 0, "gmm2d", name, tuned=cls.tuned)
    assert configs[0] == {}  # draw 0: the default
    if not cls.tuned or not search_space(cls.Params):
        assert len(configs) == 1  # oracle and reference rows, methods without a space: default only
        return
    assert len(configs) == 8 and len({repr(sorted(c.items())) for c in configs}) == 8
    for config in configs:
        params = resolve_params(cls.Params, config, owner=name)  # inside the Params' own bounds
        for key, space in search_space(cls.Params).items():
            value = getattr(params, key)
            if space.kind == "choice":
                assert value in space.choices
            else:
                assert space.low <= value <= space.high or math.isclose(value, space.low) or math.isclose(value, space.high)


def test_a_draw_depends_on_task_method_and_index_only() -> None:
    cls = REGS.methods.get("finetune")
    a = draw_hparams(cls.Params, 3, 0, "gmm2d", "finetune")
    assert a == draw_hparams(cls.Params, 3, 0, "gmm2d", "finetune")  # same for every trial and n_target
    assert a != draw_hparams(cls.Params, 4, 0, "gmm2d", "finetune")
    assert a != draw_hparams(cls.Params, 3, 0, "gmm-highdim", "finetune")
    assert a != draw_hparams(cls.Params, 3, 1, "gmm2d", "finetune")
    assert draws(cls.Params, 5, 0, "gmm2d", "finetune")[:3] == draws(cls.Params, 3, 0, "gmm2d", "finetune")


def test_the_search_spaces_are_declared_where_the_parameter_lives() -> None:
    tgdp = search_space(REGS.methods.get("tgdp").Params)
    assert {"clf_lr", "guid_lr", "gamma"} <= set(tgdp)  # from the stage configs and guided sampling
    assert "lr" not in tgdp and "source_epochs" not in tgdp  # the shared source model is not tuned
    assert search_space(REGS.methods.get("lora").Params)["rank"].kind == "choice"
    assert "w" in search_space(REGS.methods.get("domain-guidance").Params)
    assert not REGS.methods.get("tgdp-oracle-guidance").tuned and not REGS.methods.get("target-oracle").tuned


def test_list_methods_prints_the_search_spaces(cli_main) -> None:
    code, out, _ = cli_main("list", "methods", "--search-space")
    assert code == 0 and "search space: rank ~ one of 2, 4, 8, 16; finetune_lr ~ log-uniform [0.0001, 0.01]" in out
    assert "search space: not tuned (an oracle or reference row)" in out
    code, _, err = cli_main("list", "tasks", "--search-space")
    assert code == 2 and "--search-space goes with `list methods`" in err
