"""The blipctl command as a user meets it: help, version, exit codes, output streams."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml
from conftest import run_cli

from blipctl import __version__

NO_HEAVY = """
import sys
sys.argv = {argv!r}
try:
    from blipctl.cli import main
    main()
except SystemExit:
    pass
heavy = sorted(m for m in ("torch", "transformers", "timm", "deepspeed", "numpy")
               if m in sys.modules)
print("HEAVY:" + ",".join(heavy), file=sys.stderr)
"""


def _heavy_modules(argv, env=None):
    proc = subprocess.run([sys.executable, "-c", NO_HEAVY.format(argv=argv)], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=60)
    line = [x for x in proc.stderr.splitlines() if x.startswith("HEAVY:")][-1]
    return proc, line.removeprefix("HEAVY:")


def test_help_imports_no_torch():
    for argv in (["blipctl", "--help"], ["blipctl", "data", "--help"],
                 ["blipctl", "data", "synth", "--help"], ["blipctl", "recipes", "--help"]):
        proc, heavy = _heavy_modules(argv)
        assert "Usage: blipctl" in proc.stdout
        assert heavy == "", f"{argv} imported {heavy}"


HUB_TIMEOUTS = """
import os, sys
sys.argv = ["blipctl", "--help"]
from blipctl.cli import main
try:
    main()
except SystemExit:
    pass
assert "huggingface_hub" not in sys.modules
import huggingface_hub.constants as c
print("HUB:", c.HF_HUB_ETAG_TIMEOUT, c.HF_HUB_DOWNLOAD_TIMEOUT, file=sys.stderr)
"""


def test_hub_timeouts_are_set_at_cli_start_before_huggingface_hub_reads_them():
    def timeouts(**env):
        names = ("HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT")
        clean = {k: v for k, v in os.environ.items() if k not in names}
        proc = subprocess.run([sys.executable, "-c", HUB_TIMEOUTS], capture_output=True, text=True,
                              env={**clean, **env}, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return [x for x in proc.stderr.splitlines() if x.startswith("HUB:")][-1].split()[1:]

    assert timeouts() == ["10", "30"]  # huggingface_hub's own defaults are 10 and 10
    assert timeouts(HF_HUB_ETAG_TIMEOUT="3", HF_HUB_DOWNLOAD_TIMEOUT="4") == ["3", "4"]  # the user's win


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"blipctl {__version__}"
    from importlib.metadata import version

    assert version("blipctl") == __version__


def test_no_placeholder_commands():
    proc = run_cli("--help")
    block = proc.stdout.split("Commands:")[1].split("\n\n")[0]
    commands = [line.split()[0] for line in block.strip().splitlines()]
    # grows as commands work
    assert sorted(commands) == ["bootstrap", "caption", "data", "eval", "export", "finetune", "pretrain",
                                "recipes", "vqa"]


def test_misspelt_override_exits_2_with_suggestion(tmp_path):
    proc = run_cli("data", "synth", "corpus.imagez=20", f"output_dir={tmp_path / 'c'}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "blipctl: error: override `corpus.imagez`: unknown key `corpus.imagez`; "
        "did you mean `images`?"]
    assert "Traceback" not in proc.stderr and not (tmp_path / "c").exists()


def test_wrong_type_exits_2_naming_key_and_type():
    proc = run_cli("recipes", "show", "mini/corpus", "corpus.noise=lots")
    assert proc.returncode == 2
    assert "recipe key `corpus.noise`: expected float, got str 'lots'" in proc.stderr


def test_usage_error_exits_2():
    assert run_cli("data", "synth", "--images", "many").returncode == 2
    assert run_cli("nonsense").returncode == 2


def test_missing_corpus_exits_1_one_line(tmp_path):
    proc = run_cli("data", "info", str(tmp_path / "nope"))
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1 and "manifest.json: not found" in proc.stderr


def test_recipes_list_show_validate():
    listed = run_cli("recipes", "list")
    assert listed.returncode == 0 and "mini/corpus" in listed.stdout.split()
    shown = run_cli("recipes", "show", "mini/corpus", "corpus.images=77", "output_dir=a=b")
    data = yaml.safe_load(shown.stdout)
    assert data["corpus"]["images"] == 77 and data["output_dir"] == "a=b"
    assert data["corpus"]["workers"] == 2  # a default the YAML leaves out, filled in
    valid = run_cli("recipes", "validate", "--all")
    assert valid.returncode == 0, valid.stderr
    assert {"ok  mini/corpus", "ok  mini/pretrain", "ok  mini/caption"} <= set(valid.stdout.splitlines())


def test_recipes_come_from_blipctl_recipes_and_none_found_is_an_error(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "corpus.yaml").write_text("# my corpus\n_workflow_: blipctl.workflows.synth.run\n"
                                                   "output_dir: x\n")
    listed = run_cli("recipes", "list", env={"BLIPCTL_RECIPES": str(tmp_path)})
    assert listed.returncode == 0 and listed.stdout.split() == ["mine/corpus", "my", "corpus"]
    empty = tmp_path / "empty"
    empty.mkdir()
    for argv in (["recipes", "list"], ["recipes", "validate", "--all"]):
        proc = run_cli(*argv, env={"BLIPCTL_RECIPES": str(empty)})
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.strip() == f"blipctl: error: no recipes (*.yaml) in {empty}"


def test_validate_reports_bad_recipe(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("_workflow_: blipctl.workflows.synth.run\noutput_dir: x\ncorpus:\n  imags: 3\n")
    proc = run_cli("recipes", "validate", str(bad), "mini/corpus")
    assert proc.returncode == 2
    assert "ok  mini/corpus" in proc.stdout
    assert "unknown recipe key `corpus.imags`; did you mean `images`?" in proc.stderr


def test_synth_writes_config_and_prints_summary(tmp_path):
    out = tmp_path / "c"
    proc = run_cli("data", "synth", "--out", str(out), "--images", "30", "--seed", "4",
                   "corpus.workers=1")
    assert proc.returncode == 0, proc.stderr
    assert "images (web / clean)" in proc.stdout and "30 (18 / 12)" in proc.stdout
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["_workflow_"] == "blipctl.workflows.synth.run"
    assert cfg["corpus"]["images"] == 30 and cfg["corpus"]["seed"] == 4
    manifest = json.loads(run_cli("data", "info", str(out), "--json").stdout)
    assert manifest["images"]["total"] == 30
    # the saved config reproduces the corpus
    again = run_cli("data", "synth", str(out / "config.yaml"), f"output_dir={tmp_path / 'd'}")
    assert again.returncode == 0, again.stderr
    assert (out / "web.json").read_bytes() == (tmp_path / "d" / "web.json").read_bytes()


def test_synth_refuses_a_foreign_directory(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    proc = run_cli("data", "synth", "--out", str(tmp_path), "--images", "20")
    assert proc.returncode == 2 and "not a blipctl corpus" in proc.stderr
    assert (tmp_path / "mine.txt").read_text() == "keep me"
