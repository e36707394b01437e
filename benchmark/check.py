"""``python -m benchmark check``: the contracts every task and method plugin keeps, in seconds.

Like ``benchopt test`` for its plugins: a user who writes a task or a method in a plugin
folder runs ``python -m benchmark check --plugins DIR`` before a suite, and gets one line per
plugin, ``ok`` or what is wrong.  Without ``--plugins`` it checks the built-ins (CI does).

Task contract (:func:`check_task`, under the task's small ``contract_params``):
  - ``build()`` is deterministic (same arrays, same keys);
  - the target subset is the engine's nested subset of the pool (:class:`benchmark.design.Design`):
    it depends only on (task, n_target, trial), the n = 2 set is inside the n = 5 set, and
    ``n_eval`` (a parameter the data do not depend on) leaves it unchanged;
  - no test sample appears in any array a method can be handed;
  - keys change when the data change: over variants (n_target, trial, suite seed, every
    parameter perturbed in turn), equal keys always mean equal data.
Method contract (:func:`check_method`, on the ``smoke`` cell of the first task it supports,
gmm2d for the built-ins: a closed-form task of tiny size):
  - ``fit`` then ``sample(n)`` return a finite ``(n, *sample_shape)`` tensor;
  - ``requires`` matches what the method reads: a label field only with ``"labels"``, the
    target pool only with ``"oracle_pool"``, closed forms only with ``"closed_form"``, and
    nothing declared that is never read;
  - no held-out array (test fold, held-out source) is reachable from the fit context or the
    fitted method, and ``evaluate`` returns finite numbers.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import logging
import sys
import tempfile
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import torch

from benchmark.api import HELD_OUT_FIELDS, ORACLE_POOL, FitContext, Method, Task, TaskData, TrainView
from benchmark.artifacts import ArtifactCache
from benchmark.design import Design
from benchmark.errors import BenchmarkError
from benchmark.metrics.context import EvalContext
from benchmark.params import resolve_params
from benchmark.registry import Registries
from benchmark.seeding import derive_seed, seed_everything, torch_generator
from benchmark.spec import Cell, RunSpec, Suite

#: the TrainView fields a method must declare before reading them (field -> the ``requires`` entry)
DECLARED_READS = {"source_y": "labels", "target_y": "labels", "oracle_x": ORACLE_POOL, "oracle_y": ORACLE_POOL,
                  "closed_form": "closed_form"}
CHECK_SAMPLES = 64  # samples drawn by the method contract


class ContractError(AssertionError):
    """A broken contract; the message is the one line ``check`` prints."""


class NotCheckable(Exception):
    """The plugin cannot be checked here (its data are absent): reported as skipped."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ContractError(message)


@dataclass(frozen=True)
class CheckResult:
    kind: str  # "task" | "method"
    name: str
    origin: str
    problem: Optional[str]  # None: the plugin keeps its contract
    skipped: Optional[str] = None  # why it could not be checked here (e.g. its data folder is not set)

    def line(self) -> str:
        if self.skipped is not None:
            return f"{self.kind} {self.name}: skipped: {self.skipped}"
        return f"{self.kind} {self.name}: " + ("ok" if self.problem is None else f"FAILED: {self.problem}")


# ----------------------------------------------------------------------------------- tasks

def _tensors(data: TaskData) -> dict[str, torch.Tensor]:
    out = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    out.update({f"extras.{k}": v for k, v in data.extras.items()})
    return {k: v for k, v in out.items() if isinstance(v, torch.Tensor)}


def _digest(*tensors: Optional[torch.Tensor]) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(b"none" if t is None else t.detach().cpu().contiguous().numpy().tobytes() + str(t.shape).encode())
    return h.hexdigest()


def _rows(t: torch.Tensor) -> set[bytes]:
    return {row.numpy().tobytes() for row in t.detach().cpu().contiguous().flatten(1)}


def _perturbed(params: Any) -> list[dict[str, Any]]:
    """One change per parameter (n_target aside): ints + 1, floats x 1.5, bools flipped."""
    out = []
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        if f.name == "n_target" or isinstance(value, str):
            continue
        if isinstance(value, bool):
            out.append({f.name: not value})
        elif isinstance(value, int):
            out.append({f.name: value + 1})
        elif isinstance(value, float):
            out.append({f.name: value * 1.5})
    return out


def check_task(name: str, task_cls: type[Task]) -> None:
    """Raise :class:`ContractError` at the first broken clause of the task contract."""
    def build(n_target: int, trial: int = 0, suite_seed: int = 0, **changes: Any) -> TaskData:
        params = resolve_params(task_cls.Params, {**task_cls.contract_params, "n_target": n_target, **changes}, owner=name)
        return task_cls(params, suite_seed, trial).build()

    try:
        small = build(2)
    except BenchmarkError as exc:  # e.g. a real-data task without its folder: the user's data, not the code
        raise NotCheckable(str(exc)) from None
    big, again = build(5), build(5)
    _require(big.source_key == again.source_key and big.target_key == again.target_key,
             "build() gives other keys when called twice; derive keys from the data (Design.source_key)")
    for key, t in _tensors(big).items():
        _require(torch.equal(t, _tensors(again)[key]), f"build() is not deterministic ({key}); draw through Design")
    for data, n in ((small, 2), (big, 5)):
        idx = Design(name, 0, 0).subset(len(data.oracle_x), n)
        _require(torch.equal(data.target_x, data.oracle_x[idx]), "draw the target subset with Design.subset")
        if data.target_y is not None:
            _require(torch.equal(data.target_y, data.oracle_y[idx]), "target_y is not oracle_y at the subset's rows")
    _require(torch.equal(big.target_x[:2], small.target_x), "the n = 2 target subset is not inside the n = 5 one")
    _require(not torch.equal(build(5, trial=1).target_x, big.target_x), "the target subset does not change with the trial")
    if "n_eval" in {f.name for f in dataclasses.fields(task_cls.Params)}:
        base = task_cls.contract_params.get("n_eval", resolve_params(task_cls.Params, {}).n_eval)
        other = build(5, n_eval=base + 1)
        _require(torch.equal(other.target_x, big.target_x) and other.target_key == big.target_key,
                 "n_eval changes the target subset; draw the data independently of n_eval")
    test_rows = _rows(big.test_x)
    for key, t in _tensors(big).items():
        if t.dim() >= 2 and t.is_floating_point() and not key.startswith(("test_", "extras.test")):
            _require(not test_rows & _rows(t), f"test samples appear in {key}; split the pools with Design")
    variants = [big, small, build(5, trial=1), build(5, suite_seed=1)]
    for change in _perturbed(resolve_params(task_cls.Params, {**task_cls.contract_params, "n_target": 5}, owner=name)):
        try:
            variants.append(build(5, **change))
        except (ValueError, BenchmarkError):
            continue  # not a valid value for this parameter
    seen: dict[tuple[str, str], str] = {}
    for data in variants:
        for kind, key, digest in (("source", data.source_key, _digest(data.source_x, data.source_y)),
                                  ("target", data.target_key, _digest(data.target_x, data.target_y))):
            _require(seen.setdefault((kind, key), digest) == digest,
                     f"one {kind} key names two data sets; put every data parameter into the key")
    _require(len({d.target_key for d in variants[:4]}) == 4, "n_target, trial and suite seed must change the target key")


# --------------------------------------------------------------------------------- methods

def _recording_view(view: TrainView, reads: set[str]) -> TrainView:
    """``view`` whose reads of :data:`DECLARED_READS` fields are added to ``reads``."""
    class RecordingView(TrainView):
        def __getattribute__(self, name: str) -> Any:
            if name in DECLARED_READS:
                reads.add(name)
            return super().__getattribute__(name)

    return RecordingView(**{f.name: object.__getattribute__(view, f.name) for f in dataclasses.fields(TrainView)})


def _storage(t: torch.Tensor) -> Optional[int]:
    try:
        return t.untyped_storage().data_ptr() if t.numel() else None
    except RuntimeError:  # tensors without storage (meta, functional wrappers)
        return None


def reachable_storages(roots: Iterable[Any], limit: int = 2_000_000) -> set[int]:
    """Storage addresses of every tensor reachable from ``roots`` through object references
    (attributes, containers, closures, bound methods, a tensor's ``_base`` and ``grad``), not
    through modules, classes or a function's globals (those reach the whole interpreter)."""
    module_dicts = {id(vars(m)) for m in list(sys.modules.values()) if m is not None}
    seen: set[int] = set()
    found: set[int] = set()
    stack = list(roots)
    while stack and len(seen) < limit:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (types.ModuleType, type)) or id(obj) in module_dicts:
            continue
        seen.add(id(obj))
        if isinstance(obj, torch.Tensor):
            ptr = _storage(obj)
            if ptr is not None:
                found.add(ptr)
            stack += [x for x in (obj._base, obj.grad) if x is not None]
            stack += gc.get_referents(obj)
            continue
        if isinstance(obj, types.FunctionType):
            stack += [c.cell_contents for c in (obj.__closure__ or ()) if c.cell_contents is not None]
            stack += [*(obj.__defaults__ or ()), *(obj.__kwdefaults__ or {}).values()]
            continue
        stack += gc.get_referents(obj)
    return found


def held_out_storages(data: TaskData) -> dict[int, str]:
    out = {}
    for name in HELD_OUT_FIELDS:
        t = getattr(data, name)
        if isinstance(t, torch.Tensor) and _storage(t) is not None:
            out[_storage(t)] = name
    return out


def contract_spec(name: str, method_cls: type[Method], regs: Registries, smoke: Suite) -> RunSpec:
    """The run spec of the method on the first ``smoke`` cell whose task it supports."""
    from benchmark.planner import plan

    for cell in smoke.cells:
        if cell.task in regs.tasks and method_cls.supports(regs.tasks.get(cell.task)):
            one = Cell(cell.task, (name,), cell.n_targets[:1], (0,), task_params=cell.task_params, hparams=cell.hparams)
            specs = plan(Suite("check", "method contract", (one,)), regs)
            if specs:
                return specs[0]
    raise ContractError(f"no smoke task provides what it requires ({', '.join(sorted(method_cls.requires))})")


def check_method(name: str, regs: Registries, cache_dir: Path, smoke: Suite) -> None:
    """Raise :class:`ContractError` at the first broken clause of the method contract."""
    method_cls = regs.methods.get(name)
    spec = contract_spec(name, method_cls, regs, smoke)
    task_cls = regs.tasks.get(spec.task)
    task = task_cls(resolve_params(task_cls.Params, spec.task_params, owner=spec.task), spec.suite_seed, spec.trial)
    data = task.build()
    reads: set[str] = set()
    axes = (spec.task, dict(spec.task_params), spec.method, dict(spec.hparams), spec.trial)

    def seed(purpose: str, *extra: Any) -> int:
        return derive_seed(spec.suite_seed, purpose, *axes, *extra)

    torch.set_num_threads(1)
    seed_everything(seed("init"))
    cache = ArtifactCache(cache_dir, execution={"device": "cpu", "threads": 1, "deterministic": False})
    log = logging.getLogger("benchmark.check")
    log.addHandler(logging.NullHandler())
    log.propagate = False  # a tiny budget's warnings (degenerate ratios ...) are not the plugin's fault
    ctx = FitContext(spec=spec, data=_recording_view(data.train_view(method_cls.requires), reads), cache=cache,
                     device=torch.device("cpu"), seed=seed, log=log)
    method = method_cls(resolve_params(method_cls.Params, spec.hparams, owner=name))
    method.fit(ctx)
    n = min(CHECK_SAMPLES, task.n_eval())
    gen = torch_generator(seed("sample"))
    labels = None
    if method_cls.conditional:
        labels = torch.multinomial(data.target_label_frequencies().float(), n, replacement=True, generator=gen)
    with torch.no_grad():
        samples = method.sample(n, labels, gen)
    _require(isinstance(samples, torch.Tensor), f"sample() returned {type(samples).__name__}, not a tensor")
    shape = (n, *data.sample_shape)
    _require(tuple(samples.shape) == shape, f"sample({n}) returned shape {tuple(samples.shape)}, expected {shape}")
    _require(bool(torch.isfinite(samples).all()), "sample() returned non-finite values")
    undeclared = sorted(f for f in reads if DECLARED_READS[f] not in method_cls.requires)
    _require(not undeclared, f"reads {', '.join(undeclared)} without declaring requires "
             f"{{{', '.join(repr(DECLARED_READS[f]) for f in undeclared)}}}")
    unused = sorted(r for r in method_cls.requires if r in DECLARED_READS.values()
                    and not any(DECLARED_READS[f] == r for f in reads))
    _require(not unused, f"declares requires {unused} but never reads it; drop it (it only narrows the tasks)")
    leaked = held_out_storages(data)
    hits = sorted({leaked[p] for p in reachable_storages([ctx, method]) if p in leaked})
    _require(not hits, f"held-out data ({', '.join(hits)}) reachable from the fit context or the method")
    ev = EvalContext(data=data, samples=samples.detach().cpu(), labels=labels, seed=seed("eval"),
                     device=torch.device("cpu"), cache=cache, suite_seed=spec.suite_seed, derive=seed)
    values = method.evaluate(ev)
    bad = sorted(k for k, v in values.items() if not torch.isfinite(torch.tensor(float(v))))
    _require(not bad, f"evaluate() returned non-finite {', '.join(bad)}")


# ------------------------------------------------------------------------------- command

def _guard(kind: str, name: str, origin: str, fn: Callable[[], None]) -> CheckResult:
    try:
        fn()
        return CheckResult(kind, name, origin, None)
    except ContractError as exc:
        return CheckResult(kind, name, origin, str(exc))
    except NotCheckable as exc:
        return CheckResult(kind, name, origin, None, skipped=str(exc))
    except Exception as exc:  # noqa: BLE001 (a plugin's own error is its failed check)
        where = ""
        tb = exc.__traceback__
        while tb is not None:
            where = f" ({Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno})"
            tb = tb.tb_next
        return CheckResult(kind, name, origin, f"{type(exc).__name__}: {exc}{where}".replace("\n", " "))


def run_checks(regs: Registries, plugins_only: bool, names: Iterable[str] = ()) -> list[CheckResult]:
    """Check the plugins of ``regs``: only those from plugin folders when ``plugins_only``,
    else every registered task and method; ``names`` narrows to those names."""
    wanted = set(names)
    folders = tuple(regs.plugin_dirs)

    def selected(entry) -> bool:
        from_plugin = any(entry.origin.startswith(f) for f in folders)
        return (from_plugin or not plugins_only) and (not wanted or entry.name in wanted)

    results = [_guard("task", e.name, e.origin, lambda e=e: check_task(e.name, e.obj)) for e in regs.tasks if selected(e)]
    smoke = regs.suites.get("smoke")()
    with tempfile.TemporaryDirectory(prefix="tldm-check-") as tmp:
        for e in regs.methods:
            if selected(e):
                results.append(_guard("method", e.name, e.origin,
                                      lambda e=e: check_method(e.name, regs, Path(tmp) / "artifacts", smoke)))
    return results
