"""The ``fapiseg`` command: parse arguments, then call the library.

Each subcommand lives beside the code it drives, in a ``command.py`` module that defines ``NAME``,
``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``; this file only gathers them. Expected
failures (:class:`~fapiseg.errors.FapisegError`) print as one line on stderr, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from fapiseg import __version__
from fapiseg.errors import FapisegError

#: Modules that define one subcommand each, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "fapiseg.phantom.command",
    "fapiseg.io.dicom.command",
    "fapiseg.io.dicom.export_command",
    "fapiseg.metrics.lesions_command",
    "fapiseg.metrics.evaluate_command",
    "fapiseg.training.rescore_command",
    "fapiseg.reports.command",
    "fapiseg.longitudinal.command",
    "fapiseg.longitudinal.study_command",
    "fapiseg.tracking.command",
    "fapiseg.pipeline.command",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fapiseg", description="Find, measure and follow FAP-avid lesions on PET/CT.")
    parser.add_argument("--version", action="version", version=f"fapiseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except FapisegError as e:
        print(f"fapiseg {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"fapiseg {args.command}: interrupted", file=sys.stderr)
        return 130
