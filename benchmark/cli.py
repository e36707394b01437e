"""Command-line interface: argument parsing only; each sub-command calls one function.

    python -m benchmark list [methods|tasks|metrics|suites|figures]
    python -m benchmark run --all | --suite NAME [--tasks ..] [--methods ..] [--n-target ..] [--seeds ..]
    python -m benchmark status [--suite NAME] [--results DIR]
    python -m benchmark report [--results DIR] [--out DIR] [--paper]
    python -m benchmark verify RUN_ID [--results DIR] [--rtol R] [--atol A] [--device D]
    python -m benchmark prepare ecg --data-dir DIR [--cache DIR] [--rebuild] [--jobs N]

Errors are one ``error:`` line on stderr with exit status 2 (argparse's too, with a
``--help`` hint).  ``--set`` takes several ``METHOD.KEY=VALUE`` pairs.  The report goes to
``--out``, else ``reports/`` for the default results folder and ``DIR/reports/`` for
``--results DIR``.  ``run`` exits 1 when runs failed or were left to another process that
holds their lock (``--wait`` waits for them instead).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import typing
from pathlib import Path
from typing import Any, Sequence

from benchmark.errors import BenchmarkError

DEFAULT_SUITE = "quick"
DEFAULT_RESULTS = "results"
DEFAULT_REPORTS = "reports"


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line plus a hint (not the whole usage)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"error: {message}; see `{self.prog} --help`\n")


def report_folder(results: str, out: str | None) -> Path:
    """``--out``, else the report folder beside the records: ``reports/`` for the default
    results folder, ``DIR/reports/`` for ``--results DIR`` (so two experiments never share one)."""
    if out is not None:
        return Path(out)
    return Path(DEFAULT_REPORTS) if results == DEFAULT_RESULTS else Path(results) / DEFAULT_REPORTS


def _check_plugin_dirs(folders: Sequence[str]) -> None:
    for folder in folders:
        path = Path(folder)
        if path.is_file():
            raise BenchmarkError(f"--plugins {folder} is a file, not a folder; pass the folder that holds it "
                                 f"(--plugins {path.parent or '.'})")


#: flags that name a file, folder or suite: an empty string would silently mean the working
#: folder (``--results ''``), the default suite (``--suite ''``) or every file here (``--plugins ''``)
_NON_EMPTY = ("results", "suite", "plugins", "out", "reference", "readme", "data_dir", "cache", "scheduler",
              "slurm_partition", "slurm_folder", "resolved")


def check_path_flags(args: argparse.Namespace) -> None:
    """One line for an empty (or blank) value of a flag that names a path or a suite, or one
    that is not valid UTF-8 (it could be neither printed nor written into a record)."""
    for name in _NON_EMPTY:
        value = getattr(args, name, None)
        flag = f"--{name.replace('_', '-')}"
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, str):
                continue
            if not item.strip():
                raise BenchmarkError(f"{flag} is empty; give a value, or leave the flag out for its default")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise BenchmarkError(f"{flag} {item.encode('utf-8', 'replace').decode()!r} is not valid UTF-8; "
                                     "give a name of UTF-8 characters") from None


def os_error_line(exc: OSError) -> str:
    """One line for a file-system error that escaped a command (no space left, a name too
    long, a missing or unwritable file ...): what failed, on which path, what to do."""
    where = f" {str(exc.filename)[:200]!r}" if exc.filename is not None else ""
    what = exc.strerror or type(exc).__name__
    return (f"{what}{where}; check the path (and the free space and permissions of its folder) and run the "
            "same command again; finished runs are kept")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", default=DEFAULT_RESULTS, help="results folder (default: results/)")
    p.add_argument("--plugins", nargs="*", default=[], metavar="DIR", help="extra plugin folders")


def _add_selection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", default=None, help=f"named suite (default: {DEFAULT_SUITE})")
    p.add_argument("--tasks", nargs="+", default=None)
    p.add_argument("--methods", nargs="+", default=None)
    p.add_argument("--n-target", nargs="+", type=int, default=None, dest="n_target")
    p.add_argument("--seeds", nargs="+", type=int, default=None)
    p.add_argument("--set", action="extend", nargs="+", default=[], metavar="METHOD.KEY=VALUE", dest="overrides",
                   help="override hyper-parameters (several pairs after one --set); METHOD may be * for every "
                        "method with that key")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch threads per run instead of the suite's own (1 for the built-in suites); "
                        "part of the run id, so it plans other runs")


def _add_scale_out(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("dask, slurm and checkpoints")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="dask: connect to this scheduler (tcp://host:8786); default: start a local cluster of --jobs workers")
    g.add_argument("--slurm-partition", default=None, metavar="NAME", help="slurm: partition")
    g.add_argument("--slurm-time", type=int, default=None, metavar="MIN", help="slurm: time limit per run in minutes (60)")
    g.add_argument("--slurm-gpus", type=int, default=None, metavar="N", help="slurm: GPUs per task (0)")
    g.add_argument("--slurm-cpus", type=int, default=None, metavar="N", help="slurm: CPUs per task (default: the runs' thread count)")
    g.add_argument("--slurm-mem-gb", type=float, default=None, metavar="GB", help="slurm: memory per task")
    g.add_argument("--slurm-array-parallelism", type=int, default=None, metavar="N",
                   help="slurm: at most N array tasks at once (default: --jobs)")
    g.add_argument("--slurm-folder", default=None, metavar="DIR", help="slurm: submitit logs (default: RESULTS/slurm)")
    g.add_argument("--slurm-cluster", default=None, choices=["slurm", "local"],
                   help="slurm: 'local' runs the array as processes on this machine (to try a set-up)")
    g.add_argument("--checkpoint-every", type=int, default=200, metavar="K",
                   help="trainings save a checkpoint every K steps and resume from it (0: off; default 200)")
    g.add_argument("--checkpoint-keep", type=int, default=2, metavar="N", help="keep the newest N checkpoints (2)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m benchmark", description="tldm-bench: transfer learning of diffusion models")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list registered methods, tasks, metrics, suites or figures")
    p.add_argument("kind", nargs="?", default="methods")
    p.add_argument("--plugins", nargs="*", default=[], metavar="DIR")
    p.add_argument("--resolved", default=None, metavar="SUITE",
                   help="with `list suites`: every hyper-parameter each run of SUITE resolves to")
    p.add_argument("--search-space", action="store_true",
                   help="with `list methods`: each method's tunable hyper-parameters and their distributions")

    p = sub.add_parser("run", help="plan and execute runs, then write the report")
    _add_common(p)
    _add_selection(p)
    p.add_argument("--all", action="store_true", help=f"run the default suite ({DEFAULT_SUITE}) and the report")
    p.add_argument("--jobs", type=int, default=None,
                   help="runs at once (default: the usable CPU cores divided by the runs' torch threads); "
                        "never changes a record")
    p.add_argument("--launcher", default=None,
                   help="local | joblib | dask | slurm (default: joblib, local when --jobs is 1)")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    p.add_argument("--deterministic", action="store_true", help="torch.use_deterministic_algorithms(True)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    p.add_argument("--force", action="store_true", help="rerun done runs (old records are kept in history/)")
    p.add_argument("--no-report", action="store_true", help="skip the report at the end")
    p.add_argument("--out", default=None,
                   help="report folder (default: reports/ for the default results folder, else RESULTS/reports/)")
    p.add_argument("--wait", action="store_true",
                   help="wait for runs that another process is executing (default: leave them and exit 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="real-data folder (ptbxl/, icbeb2018/) for the ECG tasks; sets TLDM_ECG_DIR for the runs")
    _add_scale_out(p)

    p = sub.add_parser("prepare", help="check a real-data folder and cache its preprocessed arrays")
    p.add_argument("dataset", choices=["ecg"], help="ecg: PTB-XL (DIR/ptbxl/) and ICBEB2018 (DIR/icbeb2018/)")
    p.add_argument("--data-dir", default=None, metavar="DIR", help="the data folder (default: $TLDM_ECG_DIR)")
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="cache folder (default: $TLDM_ECG_CACHE, else DIR/.tldm-cache)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the cache even when it is up to date")
    p.add_argument("--jobs", type=int, default=1, help="worker processes reading the records (default 1)")

    p = sub.add_parser("status", help="done / failed / missing runs per task x method x n_target")
    _add_common(p)
    _add_selection(p)

    p = sub.add_parser("report", help="tables and figures from the records")
    _add_common(p)
    p.add_argument("--suite", default=None)
    p.add_argument("--out", default=None,
                   help="report folder (default: reports/ for the default results folder, else RESULTS/reports/)")
    p.add_argument("--paper", action="store_true", help="regenerate the paper figure set into OUT/paper")

    p = sub.add_parser("reference", help="copy a suite's done records to results/reference/ and regenerate README's tables")
    p.add_argument("--results", default="results", help="results folder holding the suite's runs (default: results/)")
    p.add_argument("--suite", default=DEFAULT_SUITE, help=f"the suite (default: {DEFAULT_SUITE})")
    p.add_argument("--reference", default=None, metavar="FILE",
                   help="the reference file (default: results/reference/SUITE.jsonl)")
    p.add_argument("--readme", default="README.md", metavar="FILE", help="README to update (default: README.md)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if README's tables differ from what the reference file renders to")
    p.add_argument("--render-only", action="store_true",
                   help="rewrite the tables from the committed reference file without exporting records from --results "
                        "(after a change to the table code)")
    p.add_argument("--plugins", nargs="*", default=[], metavar="DIR")

    p = sub.add_parser("check", help="check tasks and methods against their contracts (plugins: --plugins DIR)")
    p.add_argument("names", nargs="*", metavar="NAME", help="only these tasks or methods")
    p.add_argument("--plugins", nargs="*", default=[], metavar="DIR",
                   help="check the plugins of these folders (default: every built-in task and method)")

    p = sub.add_parser("verify", help="rerun a done run in a fresh folder and compare its metrics with the record")
    p.add_argument("run_id", metavar="RUN_ID", help="a run id (or a unique prefix of one)")
    p.add_argument("--results", default=DEFAULT_RESULTS, help="results folder (default: results/)")
    p.add_argument("--rtol", type=float, default=0.05, help="relative tolerance for non-deterministic or GPU runs (0.05)")
    p.add_argument("--atol", type=float, default=1e-4, help="absolute tolerance for non-deterministic or GPU runs (1e-4)")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"], help="rerun on this device (default: the recorded one)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--plugins", nargs="*", default=[], metavar="DIR",
                   help="plugin folders to import (never the ones a record names; verify notes those)")
    return parser


def _plan(args: argparse.Namespace):
    from benchmark.params import parse_set_options
    from benchmark.planner import plan, select
    from benchmark.registry import load_registries

    regs = load_registries(args.plugins)
    suite = regs.suites.get(args.suite or DEFAULT_SUITE)()
    suite = select(suite, regs, args.tasks, args.methods, args.n_target, args.seeds)
    specs = plan(suite, regs, parse_set_options(args.overrides), threads=args.threads)
    if args.methods:
        _check_supported(regs, suite, specs, args.methods)
    return regs, suite, specs


def _check_supported(regs, suite, specs, methods: Sequence[str]) -> None:
    """A method named with --methods that got no run: say which tasks it cannot run on and why."""
    planned = {s.method for s in specs}
    for name in methods:
        if name in planned:
            continue
        method_cls = regs.methods.get(name)
        tasks = sorted({c.task for c in suite.cells if name in c.methods or "*" in c.methods})
        why = [f"{t} (lacks {', '.join(sorted(method_cls.missing_capabilities(regs.tasks.get(t))))})"
               for t in tasks if not method_cls.supports(regs.tasks.get(t))]
        if why:
            raise BenchmarkError(f"method {name} needs {', '.join(sorted(method_cls.requires))}, which these tasks "
                                 f"do not provide: {'; '.join(why)}; pick another task or method "
                                 "(`python -m benchmark list methods`)")
        raise BenchmarkError(f"suite {suite.name} has no cell for method {name} on the selected tasks; "
                             f"`python -m benchmark run --suite {suite.name} --dry-run` shows its cells")


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_jobs(specs: Sequence[Any]) -> int:
    """Runs at once so that runs x torch threads fills the usable cores without oversubscribing
    them: ``--threads 2`` on 2 cores runs one at a time (two would share 2 cores between 4 threads)."""
    threads = max((s.threads for s in specs), default=1)
    return max(1, usable_cores() // threads)


def cmd_list(args: argparse.Namespace) -> int:
    from benchmark.report.listing import format_listing
    from benchmark.registry import load_registries

    regs = load_registries(args.plugins)
    if args.resolved is not None:
        from benchmark.planner import format_resolved, plan

        if args.kind not in ("suites", "suite"):
            raise BenchmarkError(f"--resolved goes with `list suites`, not `list {args.kind}`; "
                                 f"e.g. python -m benchmark list suites --resolved quick")
        suite = regs.suites.get(args.resolved)()
        print(format_resolved(suite, plan(suite, regs)))
        return 0
    if args.search_space and not args.kind.startswith("method"):
        raise BenchmarkError(f"--search-space goes with `list methods`, not `list {args.kind}`")
    print(format_listing(regs, args.kind, search_spaces=args.search_space))
    return 0


def _preflight(regs, specs) -> None:
    """Each planned task's optional ``preflight(params)`` (or ``preflight()``): e.g. the data folder
    exists and its folds hold every planned setting; one line (exit 2) before anything runs."""
    import inspect

    from benchmark.params import resolve_params
    from benchmark.spec import canonical_json

    for task in sorted({s.task for s in specs}):
        task_cls = regs.tasks.get(task)
        check = getattr(task_cls, "preflight", None)
        if check is None:
            continue
        if inspect.signature(check).parameters:
            unique = {canonical_json(dict(s.task_params)): s.task_params for s in specs if s.task == task}
            check([resolve_params(task_cls.Params, tp, owner=task) for tp in unique.values()])
        else:
            check()


def cmd_run(args: argparse.Namespace) -> int:
    from benchmark.launchers import executes_here, launch, launcher_options
    from benchmark.runner import ExecOptions, resolve_device
    from benchmark.status import format_plan, format_status
    from benchmark.store import check_writable

    if args.all and (args.suite is None):
        args.suite = DEFAULT_SUITE
    if args.jobs is not None and args.jobs < 1:
        raise BenchmarkError(f"--jobs {args.jobs} is not allowed; give 1 or more")
    regs, suite, specs = _plan(args)
    if args.jobs is None:
        args.jobs = default_jobs(specs)
    if args.dry_run:
        print(format_plan(suite, specs))
        return 0
    if args.data_dir:
        os.environ["TLDM_ECG_DIR"] = str(Path(args.data_dir).expanduser().resolve())  # workers inherit it
    _preflight(regs, specs)
    launcher = args.launcher or ("joblib" if args.jobs > 1 else "local")
    kwargs = launcher_options(launcher, vars(args))
    if executes_here(launcher, vars(args)):
        resolve_device(args.device)  # before the results folder is created
    results = check_writable(Path(args.results))
    if args.checkpoint_every < 0 or args.checkpoint_keep < 1:
        raise BenchmarkError("--checkpoint-every needs 0 (off) or more steps and --checkpoint-keep 1 or more")
    opts = ExecOptions(
        results=str(results.resolve()),
        device=args.device,
        deterministic=args.deterministic,
        force=args.force,
        plugin_dirs=tuple(str(Path(p).resolve()) for p in args.plugins),
        progress=not args.quiet,
        checkpoint_every=args.checkpoint_every,
        checkpoint_keep=args.checkpoint_keep,
        wait=args.wait,
    )
    out = report_folder(args.results, args.out)
    counts = launch(launcher, specs, opts, jobs=args.jobs, **kwargs)
    print(f"{len(specs)} runs: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(format_status(specs, results))
    if not args.no_report:
        from benchmark.planner import joined_plan
        from benchmark.report import build_report

        joined = joined_plan(suite, regs, args.tasks, args.n_target, args.seeds, args.threads)
        print(build_report(results, out, regs=regs, planned=specs + joined).format())
    if counts.get("locked"):
        print(f"error: {counts['locked']} runs were left undone because another process holds their lock (it is "
              "executing them); run the same command again when it has finished, or pass --wait", file=sys.stderr)
    return 1 if counts.get("failed") or counts.get("lost") or counts.get("locked") else 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from benchmark.ecg.prepare import prepare

    prepare(args.data_dir, args.cache, rebuild=args.rebuild, jobs=args.jobs)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from benchmark.status import format_status

    _, _, specs = _plan(args)
    print(format_status(specs, Path(args.results)))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from benchmark.report import build_report
    from benchmark.registry import load_registries

    regs = load_registries(args.plugins)
    results = Path(args.results)
    if not (results / "runs").is_dir():
        raise BenchmarkError(f"no runs in {results}; run `python -m benchmark run --all` first or pass --results DIR")
    planned = None
    if args.suite:
        from benchmark.planner import joined_plan, plan

        suite = regs.suites.get(args.suite)()
        planned = plan(suite, regs) + joined_plan(suite, regs)
    print(build_report(results, report_folder(args.results, args.out), regs=regs, planned=planned,
                       paper=args.paper).format())
    return 0


#: pages beside README (relative to its folder) whose ``results:<slug>`` blocks ``reference`` renders too
DOC_PAGES_WITH_BLOCKS = ("docs/protocol.md", "docs/recent-methods.md")


def cmd_reference(args: argparse.Namespace) -> int:
    from benchmark.planner import plan
    from benchmark.registry import load_registries
    from benchmark.report.reference import (export_reference, joined_references, load_reference, render_blocks,
                                            update_readme)

    regs = load_registries(args.plugins)
    suite = regs.suites.get(args.suite)()
    path = Path(args.reference or Path("results") / "reference" / f"{args.suite}.jsonl")
    if args.check or args.render_only:
        ref = load_reference(path)
    else:
        ref = export_reference(Path(args.results), plan(suite, regs), path)
        print(f"{len(ref.records)} records of suite {args.suite} written to {path}")
    blocks = render_blocks(ref, regs, joined_references(suite, path.parent))
    pages = [Path(args.readme)] + [p for p in (Path(args.readme).parent / d for d in DOC_PAGES_WITH_BLOCKS) if p.exists()]
    differ = 0
    for page in pages:
        changed = update_readme(page, blocks, check=args.check, suite=ref.suite)
        differ += bool(changed)
        if args.check:
            print(f"{page}: tables differ from {path}: {', '.join(changed)}" if changed else f"{page}: tables match {path}")
        else:
            print(f"{page}: {'updated ' + ', '.join(changed) if changed else 'tables already up to date'}")
    return 1 if (args.check and differ) else 0


def cmd_check(args: argparse.Namespace) -> int:
    from benchmark.check import CheckResult, run_checks
    from benchmark.registry import load_registries

    broken: list[CheckResult] = []
    regs = load_registries(args.plugins, on_error=lambda path, exc: broken.append(
        CheckResult("plugin", path.name, str(path), str(exc))))
    known = {e.name for e in regs.tasks} | {e.name for e in regs.methods}
    unknown = sorted(set(args.names) - known)
    if unknown:
        raise BenchmarkError(f"no task or method named {', '.join(unknown)}; `python -m benchmark list` shows them")
    results = broken + run_checks(regs, plugins_only=bool(args.plugins), names=args.names)
    if not results:
        raise BenchmarkError("no task or method to check in the given plugin folders")
    for result in results:
        print(result.line())
    failed = sum(r.problem is not None for r in results)
    skipped = sum(r.skipped is not None for r in results)
    print(f"{len(results) - failed - skipped} ok, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


def cmd_verify(args: argparse.Namespace) -> int:
    from benchmark.verify import verify

    if not (0 <= args.rtol < math.inf and 0 <= args.atol < math.inf):  # also false for nan
        raise BenchmarkError(f"--rtol and --atol must be finite numbers, 0 or more (got --rtol {args.rtol}, "
                             f"--atol {args.atol})")
    result = verify(Path(args.results), args.run_id, rtol=args.rtol, atol=args.atol, device=args.device,
                    progress=not args.quiet, plugin_dirs=tuple(args.plugins))
    print(result.format())
    return 0 if result.ok else 1


COMMANDS = {"list": cmd_list, "run": cmd_run, "prepare": cmd_prepare, "status": cmd_status, "report": cmd_report,
            "reference": cmd_reference, "verify": cmd_verify, "check": cmd_check}


def main(argv: Sequence[str] | None = None) -> int:
    from benchmark.interrupts import Terminated, sigterm_as_interrupt

    args = build_parser().parse_args(argv)
    try:
        check_path_flags(args)
        _check_plugin_dirs(getattr(args, "plugins", None) or ())
        # run: SIGTERM stops the workers too, as Ctrl-C does
        with sigterm_as_interrupt() if args.command == "run" else contextlib.nullcontext():
            return COMMANDS[args.command](args)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # one line; a BrokenPipeError is `python -m benchmark run --dry-run | head`
        if isinstance(exc, BrokenPipeError):
            sys.stderr.close()
            return 0
        print(f"error: {os_error_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print("error: interrupted; finished runs are kept, run the same command again to resume", file=sys.stderr)
        return 128 + exc.signum if isinstance(exc, Terminated) else 130
