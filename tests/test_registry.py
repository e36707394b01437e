"""Registries: decorator registration, unique names, close-match errors, --plugins, `list`."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from benchmark.errors import BenchmarkError
from benchmark.registry import load_registries, register_method
from conftest import one_error_line, run_python, write_plugin

PLUGIN = textwrap.dedent('''
    """A test plugin: one method, one metric, and a re-export of a built-in metric."""
    from dataclasses import dataclass

    import torch

    from benchmark.api import Method
    from benchmark.metrics.sample_metrics import mmd  # imported, must not register twice
    from benchmark.registry import register_method, register_metric


    @dataclass(frozen=True)
    class NoiseParams:
        scale: float = 2.0
        tag: str = "x"


    @register_method("wide-noise", "draws N(0, scale^2 I), ignoring the data")
    class WideNoise(Method):
        Params = NoiseParams

        def fit(self, ctx):
            self.dim = ctx.data.target_x.shape[1]

        def sample(self, n, labels, generator):
            return self.params.scale * torch.randn(n, self.dim, generator=generator)


    @register_metric("always-zero")
    def always_zero(ctx):
        """Zero, whatever the samples (description taken from this docstring)."""
        return {"zero": 0.0}
''')


def test_decorator_registers_plugin_entries(tmp_path: Path) -> None:
    path = write_plugin(tmp_path / "plugins", "noise", PLUGIN)
    regs = load_registries([tmp_path / "plugins"])
    entry = regs.methods.entry("wide-noise")
    assert entry.description == "draws N(0, scale^2 I), ignoring the data"
    assert entry.origin == str(path)
    assert entry.obj.__name__ == "WideNoise" and entry.obj.Params().scale == 2.0
    assert regs.metrics.entry("always-zero").description.startswith("Zero, whatever the samples")
    # built-ins are still there, the re-exported metric is registered once under its own module
    assert {"lora", "finetune", "source-only", "scratch", "target-oracle"} <= set(regs.methods.names())
    assert regs.metrics.entry("mmd").origin == "benchmark.metrics.sample_metrics"
    assert "gmm2d" in regs.tasks and "smoke" in regs.suites
    # the plugin module lives under a private name, not as a top-level module
    assert entry.obj.__module__.startswith("_tldm_plugins.")
    # no global state: a load without the folder does not see the plugin, a second load is harmless
    assert "wide-noise" not in load_registries().methods
    assert load_registries([tmp_path / "plugins"]).methods.get("wide-noise") is entry.obj


def test_decorator_only_marks_the_object() -> None:
    class Dummy:
        """Doc line one.

        More."""

    marked = register_method("dummy-x")(Dummy)
    assert marked is Dummy
    assert Dummy.__tldm_registration__ == (("method", "dummy-x", "Doc line one."),)
    assert "dummy-x" not in load_registries().methods  # not in a plugin folder: not registered
    with pytest.raises(BenchmarkError, match="non-empty string name"):
        register_method("")


FAMILY = textwrap.dedent('''
    import torch

    from benchmark.api import Method
    from benchmark.registry import register_method


    @register_method("fam-parent", "the parent")
    class Parent(Method):
        def fit(self, ctx):
            pass

        def sample(self, n, labels, generator):
            return torch.zeros(n, 2)


    @register_method("fam-child", "a registered subclass")
    class Child(Parent):
        pass


    class Helper(Parent):
        """An unregistered subclass."""
''')


def test_subclasses_do_not_inherit_registrations(tmp_path: Path) -> None:
    """A subclass of a registered method is registered only under its own decorator's name."""
    write_plugin(tmp_path / "p", "family", FAMILY)
    regs = load_registries([tmp_path / "p"])
    fam = {n: regs.methods.get(n).__name__ for n in regs.methods.names() if n.startswith("fam-")}
    assert fam == {"fam-parent": "Parent", "fam-child": "Child"}
    assert regs.methods.entry("fam-child").description == "a registered subclass"


def test_duplicate_name_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "dup"
    write_plugin(folder, "a_noise", PLUGIN.replace('"always-zero"', '"always-zero-1"'))
    write_plugin(folder, "b_noise", PLUGIN.replace('"always-zero"', '"always-zero-2"'))
    with pytest.raises(BenchmarkError) as info:
        load_registries([folder])
    msg = str(info.value)
    assert "method 'wide-noise' is registered twice" in msg and "a_noise.py" in msg and "b_noise.py" in msg
    assert "\n" not in msg and "rename" in msg


def test_duplicate_of_a_builtin_is_an_error(tmp_path: Path) -> None:
    src = PLUGIN.replace('"wide-noise"', '"lora"').replace('"always-zero"', '"always-zero-b"')
    write_plugin(tmp_path / "p", "mylora", src)
    with pytest.raises(BenchmarkError, match="method 'lora' is registered twice"):
        load_registries([tmp_path / "p"])


@pytest.mark.parametrize("kind,name,close", [
    ("methods", "lorra", "lora"),
    ("methods", "finetuen", "finetune"),
    ("tasks", "gmm2", "gmm2d"),
    ("metrics", "mmd_flor", "mmd_floor"),
    ("suites", "smok", "smoke"),
])
def test_unknown_name_lists_close_matches(kind: str, name: str, close: str) -> None:
    reg = load_registries().by_kind(kind)
    with pytest.raises(BenchmarkError) as info:
        reg.get(name)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"unknown {kind[:-1]} '{name}': did you mean ")
    assert close in msg.split("did you mean ")[1].split("?")[0].split(", ")
    assert f"python -m benchmark list {kind}" in msg


def test_unknown_name_without_close_match() -> None:
    with pytest.raises(BenchmarkError, match=r"unknown method 'zzzzqqq': none is close"):
        load_registries().methods.entry("zzzzqqq")


def test_missing_and_broken_plugin_folders(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="plugin folder .* does not exist"):
        load_registries([tmp_path / "nope"])
    write_plugin(tmp_path / "broken", "bad", "import this_module_does_not_exist_anywhere\n")
    with pytest.raises(BenchmarkError) as info:
        load_registries([tmp_path / "broken"])
    msg = str(info.value)
    assert "bad.py failed to import: ModuleNotFoundError" in msg and "\n" not in msg


def test_files_starting_with_underscore_are_not_plugins(tmp_path: Path) -> None:
    write_plugin(tmp_path / "p", "_helper", "raise RuntimeError('must not be imported')\n")
    write_plugin(tmp_path / "p", "noise", PLUGIN)
    assert "wide-noise" in load_registries([tmp_path / "p"]).methods


def test_list_prints_descriptions_and_defaults(cli_main) -> None:
    regs = load_registries()
    code, out, err = cli_main("list", "methods")
    assert code == 0 and err == ""
    assert out.splitlines()[0] == f"{len(regs.methods.entries)} methods"
    for entry in regs.methods:
        assert f"  {entry.name:<24} {entry.description}" in out
    assert "rank=4" in out and "alpha=4.0" in out and "sampler='dpm2'" in out  # lora's defaults

    code, out, _ = cli_main("list", "tasks")
    assert code == 0 and "gmm2d" in out and "gmm-highdim" in out and "gmm-noisy-source" in out
    assert "n_target=100" in out and "n_source=10000" in out and "dim=8" in out and "noise_frac=0.1" in out

    code, out, _ = cli_main("list", "metrics")
    assert code == 0
    for name in ("mmd", "mmd_floor", "density_error", "sliced_wasserstein"):
        assert f"  {name:<24} {regs.metrics.entry(name).description}" in out

    code, out, _ = cli_main("list", "suites")
    assert code == 0
    for name in ("smoke", "quick", "extended", "paper"):
        assert f"  {name:<24} {regs.suites.entry(name).description}" in out

    code, _, err = cli_main("list", "widgets")
    assert code == 2 and "unknown registry 'widget'" in one_error_line(err)


def test_list_with_plugins(cli_main, tmp_path: Path) -> None:
    write_plugin(tmp_path / "p", "noise", PLUGIN)
    code, out, _ = cli_main("list", "methods", "--plugins", tmp_path / "p")
    assert code == 0
    assert "wide-noise" in out and "draws N(0, scale^2 I), ignoring the data" in out
    assert "defaults: scale=2.0, tag='x'" in out


CHECK_HF = """
import json, sys
{first}
import datasets
assert hasattr(datasets, "load_dataset") and hasattr(datasets, "Dataset"), datasets
assert "methods" not in sys.modules
plugins = sorted(m for m in sys.modules if m.startswith("benchmark.builtin."))
print(json.dumps({{"file": datasets.__file__, "tasks": regs.tasks.names(), "plugins": plugins}}))
"""


@pytest.mark.slow
def test_plugin_folders_do_not_shadow_hugging_face_datasets() -> None:
    """After load_registries() (which imports datasets/*.py and methods/*.py as benchmark.builtin.*), in a fresh
    interpreter whose cwd and PYTHONPATH are the repo root, `import datasets` is Hugging Face's."""
    proc = run_python(CHECK_HF.format(first="from benchmark.registry import load_registries\nregs = load_registries()"))
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "site-packages" in info["file"] and "/datasets/__init__.py" in info["file"]
    assert "gmm2d" in info["tasks"]
    assert any(m.endswith(".gmm") for m in info["plugins"]) and any(m.endswith(".lora") for m in info["plugins"])
