"""Suite -> RunSpecs: grid expansion, CLI filters, overrides, validation.

Validation happens here, before anything runs, so a bad name or value ends the command
with one line and no run folder is touched.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable, Mapping, Sequence

from benchmark.errors import BenchmarkError
from benchmark.params import params_to_dict, resolve_params
from benchmark.protocol.draws import draws
from benchmark.protocol.holdout import holdout_size
from benchmark.registry import Registries
from benchmark.spec import Cell, RunSpec, Suite, canonical_json
from benchmark.stage_configs import declared_blocks


def select(
    suite: Suite,
    regs: Registries,
    tasks: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    n_targets: Sequence[int] | None = None,
    seeds: Sequence[int] | None = None,
) -> Suite:
    """Restrict or re-grid a suite with the ``run`` flags.

    ``--tasks`` keeps the suite's cells of those tasks (a task absent from the suite gets
    one cell with every supported method and the task's default n_target values);
    ``--methods``, ``--n-target`` and ``--seeds`` replace the cells' own values.
    """
    cells = list(suite.cells)
    if tasks:
        for t in tasks:
            regs.tasks.entry(t)
        present = {c.task for c in cells}
        cells = [c for c in cells if c.task in tasks]
        for t in tasks:
            if t not in present:
                cells.append(Cell(task=t, methods=("*",), n_targets=regs.tasks.get(t).default_n_targets, seeds=(0,)))
    if methods:
        for m in methods:
            regs.methods.entry(m)
        cells = [replace(c, methods=tuple(methods)) for c in cells]
    if n_targets:
        for n in n_targets:
            if int(n) <= 0:
                raise BenchmarkError(f"--n-target {n} is not allowed; give positive sample counts such as 10 100 1000")
        cells = [replace(c, n_targets=tuple(int(n) for n in n_targets)) for c in cells]
    if seeds:
        cells = [replace(c, seeds=tuple(check_seed(int(s), "--seeds") for s in seeds)) for c in cells]
    return replace(suite, cells=tuple(cells))


def joined_plan(suite: Suite, regs: Registries, tasks: Sequence[str] | None = None,
                n_targets: Sequence[int] | None = None, seeds: Sequence[int] | None = None,
                threads: int | None = None) -> list[RunSpec]:
    """The runs of the suites ``suite`` reads with (``Suite.reads_with``), restricted like
    :func:`select` to the given tasks, n_target values and seeds (no cell is added for a task
    such a suite lacks): what its report expects beside its own runs."""
    out: list[RunSpec] = []
    for name in suite.reads_with:
        other = regs.suites.get(name)()
        cells = [c for c in other.cells if not tasks or c.task in tasks]
        other = select(replace(other, cells=tuple(cells)), regs, None, None, n_targets, seeds)
        out += plan(other, regs, threads=threads)
    return out


#: seeds and trials are stored as int64 (records, report tables): beyond it every report fails
INT64_MAX = 2**63 - 1


def check_seed(value: object, what: str) -> int:
    """``value`` as a seed or trial index in 0 .. 2**63-1, else one line naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT64_MAX:
        raise BenchmarkError(f"{what} {value!r} is not allowed; give an integer from 0 to {INT64_MAX} (2**63-1)")
    return value


def _merged_overrides(method: str, keys: set[str], layers: Iterable[Mapping[str, Mapping[str, Any]]],
                      blocks: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A method's hyper-parameters from layers of overrides, in order: the budget blocks it
    declares (``"@block"`` keys, :func:`benchmark.stage_configs.declared_blocks`), the keys under
    ``"*"`` that it has (a user's ``--set '*.key=...'``), then those under its own name."""
    out: dict[str, Any] = {}
    for layer in layers:
        for name, values in layer.items():
            if name.startswith("@") and name[1:] in blocks:
                missing = sorted(set(values) - keys)
                if missing:
                    raise BenchmarkError(f"method {method} declares the {name[1:]} block but has no field "
                                         f"{missing[0]}; add the field to its Params or drop the block from BLOCKS")
                out.update(values)
        out.update({k: v for k, v in layer.get("*", {}).items() if k in keys})
        out.update(layer.get(method, {}))
    return out


def plan(suite: Suite, regs: Registries, overrides: Mapping[str, Mapping[str, Any]] | None = None,
         threads: int | None = None) -> list[RunSpec]:
    """Expand a suite into unique RunSpecs (task params and hparams fully resolved).

    Every spec carries the suite's torch thread count, or ``threads`` when the user
    overrides it (``--threads N``), which makes the run ids differ from the suite's own.
    """
    overrides = dict(overrides or {})
    if threads is not None and (isinstance(threads, bool) or int(threads) < 1):
        raise BenchmarkError(f"--threads {threads} is not allowed; give 1 or more (the suite's own is {suite.threads})")
    run_threads = int(threads) if threads is not None else suite.threads
    check_seed(suite.seed, f"suite {suite.name}: seed")
    for cell in suite.cells:
        for trial in cell.seeds:
            check_seed(trial, f"suite {suite.name}, task {cell.task}: trial")
    for name in overrides:
        if name != "*":
            regs.methods.entry(name)
    specs: dict[str, RunSpec] = {}
    used_star_keys: set[str] = set()
    for cell in suite.cells:
        task_cls = regs.tasks.get(cell.task)
        names = [e.name for e in regs.methods if e.obj.supports(task_cls)] if "*" in cell.methods else list(cell.methods)
        for n in cell.n_targets:
            task_params = params_to_dict(resolve_params(task_cls.Params, {**cell.task_params, "n_target": n}, owner=cell.task))
            for name in names:
                method_cls = regs.methods.get(name)
                if not method_cls.supports(task_cls):
                    continue  # e.g. an oracle method on a task without closed forms
                import dataclasses

                keys = {f.name for f in dataclasses.fields(method_cls.Params)}
                used_star_keys |= keys & set(overrides.get("*", {}))
                hp = _merged_overrides(name, keys, (cell.hparams, overrides), declared_blocks(method_cls.Params))
                variant = f"{name}[{cell.tag}]" if cell.tag else name
                for draw, holdout, values in protocol_runs(cell, name, method_cls, suite.seed, n, hp):
                    hparams = params_to_dict(resolve_params(method_cls.Params, values, owner=name))
                    for trial in cell.seeds:
                        spec = RunSpec(suite.name, suite.seed, cell.task, task_params, name, hparams, int(trial),
                                       threads=run_threads, variant=variant, holdout=holdout, draw=draw)
                        specs.setdefault(spec.run_id, spec)  # a run planned by two cells keeps the first's label
    _check_variant_labels(specs.values())
    unused = set(overrides.get("*", {})) - used_star_keys
    if unused:
        raise BenchmarkError(f"--set *.{sorted(unused)[0]} matches no hyper-parameter of the planned methods")
    _check_overrides_planned(overrides, {s.method for s in specs.values()})
    return worker_order(list(specs.values()), lambda name: bool(getattr(regs.methods.get(name), "conditional", False)))


def protocol_runs(cell: Cell, name: str, method_cls: type, suite_seed: int, n_target: int,
                  base: Mapping[str, Any]) -> list[tuple[int, int, dict[str, Any]]]:
    """(draw, holdout, hyper-parameters) of a method's runs at one n_target of ``cell``: the default
    run (draw 0 on all n targets), and, where ``cell.draws`` = K > 1 and the method is tuned with a
    search space, draws 0..K-1 (:func:`benchmark.protocol.draws.draws`, seeded by (suite seed, task,
    method, draw): the same values at every n and trial) trained without the ``target-val`` holdout
    of :func:`benchmark.protocol.holdout.holdout_size`."""
    if isinstance(cell.draws, bool) or not isinstance(cell.draws, int) or cell.draws < 1:
        raise BenchmarkError(f"cell of task {cell.task}: draws={cell.draws!r} must be an integer >= 1")
    runs = [(0, 0, dict(base))]
    if cell.draws == 1:
        return runs
    configs = draws(method_cls.Params, cell.draws, suite_seed, cell.task, name,
                    tuned=bool(getattr(method_cls, "tuned", True)), base=base)
    if len(configs) == 1:  # an untuned row (oracle, reference) or nothing to tune: its default only
        return runs
    holdout = holdout_size(n_target)
    return runs + [(k, holdout, values) for k, values in enumerate(configs)]


def _check_variant_labels(specs: Iterable[RunSpec]) -> None:
    """One label, one configuration: within a task setting, the runs of a variant label share
    their hyper-parameters (cells of one method with other hyper-parameters need tags)."""
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for spec in specs:
        setting = canonical_json({k: v for k, v in spec.task_params.items() if k != "n_target"})
        key = (spec.task, setting, spec.label_of_variant(), spec.draw)
        first = seen.setdefault(key, dict(spec.hparams))
        if first != dict(spec.hparams):
            diff = sorted(k for k in {*first, *spec.hparams} if first.get(k) != spec.hparams.get(k))
            raise BenchmarkError(f"two cells plan {spec.label_of_variant()} on {spec.task} with different "
                                 f"hyper-parameters ({', '.join(diff)}); give the cells distinct tags")


def _check_overrides_planned(overrides: Mapping[str, Mapping[str, Any]], planned: set[str]) -> None:
    """A ``--set METHOD.KEY`` for a method that gets no run would be ignored without a word."""
    for name in sorted(n for n in overrides if n != "*" and n not in planned):
        key = next(iter(overrides[name]), "KEY")
        raise BenchmarkError(f"--set {name}.{key}: method {name} is not planned here (planned: "
                             f"{', '.join(sorted(planned)) or 'none'}); add it with --methods {name} or drop the --set")


#: the hyper-parameters a source denoiser stage depends on (benchmark.denoiser_methods.source_key)
SOURCE_HPARAMS = ("width", "depth", "lr", "batch", "source_epochs", "ema")


def source_group(spec: RunSpec, conditional: bool) -> tuple:
    """The runs that may share one source-model stage: same task, task parameters other than
    n_target, suite seed, denoiser hyper-parameters and conditioning (trials may or may not share
    it: the gmm tasks draw a source pool per trial, ecg-synth one for all)."""
    task_params = tuple(sorted((k, repr(v)) for k, v in spec.task_params.items() if k != "n_target"))
    hp = tuple((k, repr(spec.hparams.get(k))) for k in SOURCE_HPARAMS)
    return spec.task, task_params, spec.suite_seed, hp, conditional


def worker_order(specs: list[RunSpec], conditional=lambda method: False) -> list[RunSpec]:
    """The order launchers hand runs to workers; a pure function of the spec list (a record never
    depends on it: every run derives its seeds from its spec, and a cached stage from its key).

    The shared source-model stages are the critical path: a run that needs a stage another worker
    is building waits on its lock.  So (1) the first run of each source group (:func:`source_group`)
    comes first, the runs of signal tasks (task parameters with a ``length``, the ECG tasks) before
    the vector tasks: their source models are the longest (a quick-suite ecg-synth source model
    costs ~20x a gmm2d one, see scripts/suite_profile.py), so one worker starts on it at once;
    (2) then the other runs, the vector tasks' first: the signal runs all need that source model,
    and handed out next they left the other worker waiting on its lock (about 100 s of a 2-core
    quick run), while the short gmm runs keep it busy until the model is built; the signal runs
    then come last (at quick size 30 s each, so the workers still end within a run of each other).
    Otherwise the plan order (cells, n_target, methods, trials) is kept.
    """
    def signal_first(spec: RunSpec) -> int:
        return 0 if "length" in spec.task_params else 1

    seen: set[tuple] = set()
    first, rest = [], []
    for spec in specs:
        group = source_group(spec, conditional(spec.method))
        (rest if group in seen else first).append(spec)
        seen.add(group)
    return sorted(first, key=signal_first) + sorted(rest, key=lambda s: -signal_first(s))


def resolved_config(specs: Iterable[RunSpec]) -> list[dict[str, Any]]:
    """What a plan runs, folded over n_target and trials: one entry per (task, task
    parameters other than n_target, method, resolved hyper-parameters), with the n_target
    values and trials it runs at.  Sorted, JSON-ready; the golden files of the suites."""
    groups: dict[str, dict[str, Any]] = {}
    for spec in specs:
        task_params = {k: v for k, v in spec.task_params.items() if k != "n_target"}
        entry = {"task": spec.task, "task_params": task_params, "method": spec.method,
                 "hparams": dict(spec.hparams), "threads": spec.threads, **({"draw": spec.draw} if spec.draw else {})}
        key = canonical_json(entry)
        group = groups.setdefault(key, {**entry, "n_targets": set(), "trials": set()})
        group["n_targets"].add(spec.n_target)
        group["trials"].add(spec.trial)
        if spec.holdout:  # also trained without the target-val holdout (protocol draws)
            group["target_val"] = True

    def order(key: str) -> tuple[str, ...]:
        g = groups[key]
        return g["task"], canonical_json(g["task_params"]), g["method"], key

    out = []
    for key in sorted(groups, key=order):
        g = groups[key]
        out.append({**g, "n_targets": sorted(g["n_targets"]), "trials": sorted(g["trials"])})
    return out


def format_resolved(suite: Suite, specs: Sequence[RunSpec]) -> str:
    """A readable listing of :func:`resolved_config`: per task and method, every value."""
    lines = [f"suite {suite.name}: {len(specs)} runs, {suite.threads} torch thread(s) per run"]
    for e in resolved_config(specs):
        extra = ",".join(f"{k}={v}" for k, v in e["task_params"].items())
        protocol = f" draw={e['draw']}" if e.get("draw") else ""
        protocol += " (+ target-val holdout runs)" if e.get("target_val") else ""
        lines.append(f"  {e['task']}{'[' + extra + ']' if extra else ''} {e['method']}{protocol}  "
                     f"n_target={'/'.join(map(str, e['n_targets']))} trials={'/'.join(map(str, e['trials']))}")
        lines.append("      " + ", ".join(f"{k}={v}" for k, v in e["hparams"].items()))
    return "\n".join(lines)
