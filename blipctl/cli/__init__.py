"""The `blipctl` command. Only typer is imported here; each command imports what it needs."""

from __future__ import annotations

import os
import sys

import typer

from blipctl import __version__
from blipctl.cli import data, recipes
from blipctl.cli import eval as eval_cmd
from blipctl.cli.bootstrap import bootstrap
from blipctl.cli.caption import caption
from blipctl.cli.export import export
from blipctl.cli.train import finetune, pretrain
from blipctl.cli.vqa import vqa
from blipctl.errors import BlipctlError

# Hub timeouts (seconds) for every command, set when the CLI starts, before any command imports
# huggingface_hub (which reads them once, at import); values already in the environment win.
HUB_TIMEOUTS = {"HF_HUB_ETAG_TIMEOUT": "10", "HF_HUB_DOWNLOAD_TIMEOUT": "30"}
for _name, _value in HUB_TIMEOUTS.items():
    os.environ.setdefault(_name, _value)

app = typer.Typer(
    name="blipctl",
    help="Train, evaluate and run BLIP, BLIP-2 and InstructBLIP from the shell.",
    epilog="Logs and progress go to stderr, results to stdout. "
    "Exit codes: 0 ok, 1 some items failed, 2 usage or recipe error.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rich formatting costs 0.3 s of imports
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command(context_settings={"allow_interspersed_args": True})(pretrain)
app.command(context_settings={"allow_interspersed_args": True})(finetune)
app.command(context_settings={"allow_interspersed_args": True})(bootstrap)
app.command()(caption)
app.command()(vqa)
app.command()(export)
app.add_typer(eval_cmd.app, name="eval")
app.add_typer(data.app, name="data")
app.add_typer(recipes.app, name="recipes")


def _version(value: bool) -> None:
    if value:
        print(f"blipctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """blipctl's global options."""


def main() -> None:
    """Entry point: a user error becomes one line on stderr and its exit code."""
    try:
        app()
    except BlipctlError as e:
        print(f"blipctl: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("blipctl: interrupted", file=sys.stderr)
        sys.exit(130)
