"""Command line: ``rds-log-shipper [run|status|state|demo]``; ``main(argv) -> int``."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from shipper import __version__
from shipper.config import add_setting_flags, flags_from_namespace, load_settings
from shipper.exceptions import ShipperError
from shipper.exitcodes import ExitCode

COMMANDS = ("run", "status", "state", "demo")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2 (ExitCode.CONFIG)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(ExitCode.CONFIG)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rds-log-shipper",
        description="Archive every byte of Amazon RDS and Aurora database logs into S3, "
                    "exactly once.",
        epilog="Exit codes: " + ", ".join(f"{c.value} {c.name.lower()}" for c in ExitCode),
    )
    parser.add_argument("--version", action="version", version=f"rds-log-shipper {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    run = sub.add_parser("run", help="one pass over every selected instance, then exit "
                                     "(the default)")
    add_setting_flags(run)

    status = sub.add_parser("status", help="per instance: lag, last run and gaps, from the state")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_setting_flags(status)

    state = sub.add_parser("state", help="inspect or recover one instance's state object")
    state.add_argument("action", choices=("show", "repair", "reset"),
                       help="show: print it; repair: rebuild it from the data objects in S3 "
                            "(nothing re-shipped); reset: forget it (re-ships what RDS still "
                            "has)")
    state.add_argument("--instance", required=True, help="DB instance identifier")
    state.add_argument("--account", default=None, help="account id (default: the only one)")
    state.add_argument("--region-name", default=None, help="region (default: the first)")
    state.add_argument("--yes", action="store_true", help="confirm repair/reset")
    add_setting_flags(state)

    demo = sub.add_parser("demo", help="ship from the built-in RDS simulator into a local S3 "
                                       "(no AWS account needed)")
    demo.add_argument("--instances", type=int, default=6, help="simulated DB instances")
    demo.add_argument("--hours", type=int, default=26, help="simulated hours to ship across")
    demo.add_argument("--out", default="rds-log-shipper-demo",
                      help="folder that receives a copy of the shipped objects")
    return parser


def _normalise(argv: list[str]) -> list[str]:
    """``run`` is the default command: ``rds-log-shipper --bucket b`` means ``run --bucket b``."""
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        return ["run", *argv]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    args_list = _normalise(list(sys.argv[1:] if argv is None else argv))
    try:
        args = build_parser().parse_args(args_list)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        if args.command == "demo":
            if importlib.util.find_spec("moto") is None:  # the demo's local S3 is moto's
                sys.stderr.write("rds-log-shipper: error: the demo needs the [demo] extra: "
                                 "pip install 'rds-log-shipper[demo]' (or `make demo` in a "
                                 "clone); the container image leaves it out\n")
                return int(ExitCode.CONFIG)
            from shipper.demo import run_demo

            return int(run_demo(args.instances, args.hours, args.out))
        settings = load_settings(os.environ, flags_from_namespace(args))
        from shipper.logs import setup_logging
        from shipper.runner import run_id_for

        run_id = run_id_for(settings)
        setup_logging(run_id, settings.log_format, settings.log_level)
        if args.command == "status":
            from shipper.status import show_status

            return show_status(settings, as_json=args.json)
        if args.command == "state":
            from shipper.state_tools import state_command

            return state_command(settings, args.action, args.instance, args.account,
                                 args.region_name, args.yes)
        from dataclasses import replace

        from shipper.runner import Runner

        return Runner(replace(settings, run_id=run_id), stdout=sys.stdout).run()
    except ShipperError as err:
        sys.stderr.write(f"rds-log-shipper: error: {err.one_line()}\n")
        return int(err.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("rds-log-shipper: interrupted\n")
        return int(ExitCode.INTERRUPTED)


def console_main() -> NoReturn:
    sys.exit(main())
