"""Command-line interface: argument parsing only; each sub-command calls one function.

    python -m benchmark list [methods|tasks|metrics|suites|figures]
    python -m benchmark run --all | --suite NAME [--tasks ..] [--methods ..] [--n-target ..] [--seeds ..]
    python -m benchmark status [--suite NAME] [--results DIR]
    python -m benchmark report [--results DIR] [--out DIR] [--paper]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from benchmark.errors import BenchmarkError

DEFAULT_SUITE = "quick"


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", default="results", help="results folder (default: results/)")
    p.add_argument("--plugins", nargs="*", default=[], metavar="DIR", help="extra plugin folders")


def _add_selection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", default=None, help=f"named suite (default: {DEFAULT_SUITE})")
    p.add_argument("--tasks", nargs="+", default=None)
    p.add_argument("--methods", nargs="+", default=None)
    p.add_argument("--n-target", nargs="+", type=int, default=None, dest="n_target")
    p.add_argument("--seeds", nargs="+", type=int, default=None)
    p.add_argument("--set", action="append", default=[], metavar="METHOD.KEY=VALUE", dest="overrides",
                   help="override a hyper-parameter; METHOD may be * for every method with that key")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark", description="tldm-bench: transfer learning of diffusion models")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list registered methods, tasks, metrics, suites or figures")
    p.add_argument("kind", nargs="?", default="methods")
    p.add_argument("--plugins", nargs="*", default=[], metavar="DIR")

    p = sub.add_parser("run", help="plan and execute runs, then write the report")
    _add_common(p)
    _add_selection(p)
    p.add_argument("--all", action="store_true", help=f"run the default suite ({DEFAULT_SUITE}) and the report")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--launcher", default=None, help="local | joblib (default: local, joblib when --jobs > 1)")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=None, help="torch threads per run (default: cores // jobs)")
    p.add_argument("--deterministic", action="store_true", help="torch.use_deterministic_algorithms(True)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    p.add_argument("--force", action="store_true", help="rerun done runs (old records are kept in history/)")
    p.add_argument("--no-report", action="store_true", help="skip the report at the end")
    p.add_argument("--out", default="reports", help="report folder (default: reports/)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("status", help="done / failed / missing runs per task x method x n_target")
    _add_common(p)
    _add_selection(p)

    p = sub.add_parser("report", help="tables and figures from the records")
    _add_common(p)
    p.add_argument("--suite", default=None)
    p.add_argument("--out", default="reports")
    p.add_argument("--paper", action="store_true", help="regenerate the paper figure set into OUT/paper")
    return parser


def _plan(args: argparse.Namespace):
    from benchmark.params import parse_set_options
    from benchmark.planner import plan, select
    from benchmark.registry import load_registries

    regs = load_registries(args.plugins)
    suite = regs.suites.get(args.suite or DEFAULT_SUITE)()
    suite = select(suite, regs, args.tasks, args.methods, args.n_target, args.seeds)
    specs = plan(suite, regs, parse_set_options(args.overrides))
    return regs, suite, specs


def cmd_list(args: argparse.Namespace) -> int:
    from benchmark.report.listing import format_listing
    from benchmark.registry import load_registries

    print(format_listing(load_registries(args.plugins), args.kind))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from benchmark.launchers import launch
    from benchmark.runner import ExecOptions, resolve_device
    from benchmark.status import format_plan, format_status
    from benchmark.store import check_writable

    if args.all and (args.suite is None):
        args.suite = DEFAULT_SUITE
    if args.jobs < 1:
        raise BenchmarkError(f"--jobs {args.jobs} is not allowed; give 1 or more")
    regs, suite, specs = _plan(args)
    if args.dry_run:
        print(format_plan(suite, specs))
        return 0
    results = check_writable(Path(args.results))
    resolve_device(args.device)
    launcher = args.launcher or ("joblib" if args.jobs > 1 else "local")
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    opts = ExecOptions(
        results=str(results.resolve()),
        device=args.device,
        threads=threads,
        deterministic=args.deterministic,
        force=args.force,
        plugin_dirs=tuple(str(Path(p).resolve()) for p in args.plugins),
        progress=not args.quiet,
    )
    counts = launch(launcher, specs, opts, jobs=args.jobs)
    print(f"{len(specs)} runs: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(format_status(specs, results))
    if not args.no_report:
        from benchmark.report import build_report

        build_report(results, Path(args.out), regs=regs, planned=specs)
        print(f"report written to {args.out}/")
    return 1 if counts.get("failed") else 0


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
        from benchmark.planner import plan

        planned = plan(regs.suites.get(args.suite)(), regs)
    build_report(results, Path(args.out), regs=regs, planned=planned, paper=args.paper)
    print(f"report written to {args.out}/")
    return 0


COMMANDS = {"list": cmd_list, "run": cmd_run, "status": cmd_status, "report": cmd_report}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; finished runs are kept, run the same command again to resume", file=sys.stderr)
        return 130
