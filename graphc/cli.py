"""The `graphc` command: `graphc train` (the main job), `graphc show` (pictures of a model),
`graphc report` (passes and memory of a compiled model) and `graphc check` (the differential
checker)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# command -> (module with add_arguments(parser) and run(args) -> int, one-line help)
COMMANDS = {
    "train": ("graphc.train", "train the tutorial's MLP with a compiled training step"),
    "show": ("graphc.show", "trace a model and render or print its graphs"),
    "report": ("graphc.report", "what compiling did to a model and where its memory goes"),
    "check": ("graphc.differential", "find the first value two levels or backends disagree on"),
}


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error message (and exit status 2) instead of usage + error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv=None) -> int:
    """Run `graphc <command> ...`; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    top = ArgumentParser(prog="graphc", description=__doc__.splitlines()[0])
    top.add_argument("--version", action="version", version=f"graphc {_version()}")
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in COMMANDS.items():
        # each command's own options are added lazily below: importing a command costs time
        commands.add_parser(name, help=help_text, add_help=False)
    try:
        top.parse_args(argv[:1])
        name = argv[0]
        parser = ArgumentParser(prog=f"graphc {name}")
        module = _load(name)
        module.add_arguments(parser)
        args = parser.parse_args(argv[1:])
        args.command_line = argv  # what `graphc train --nproc N` starts again in each rank
    except SystemExit as done:  # --help, or a usage error already printed
        return _status(done.code)
    try:
        return module.run(args)
    except BrokenPipeError:  # `graphc report | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _version() -> str:
    from graphc import __version__

    return __version__


def _load(name: str):
    try:
        return importlib.import_module(COMMANDS[name][0])
    except ImportError as err:
        sys.stderr.write(f"graphc {name}: error: command unavailable ({err})\n")
        raise SystemExit(1) from None


def _status(code) -> int:
    if code is None:
        return 0
    return code if isinstance(code, int) else 1
