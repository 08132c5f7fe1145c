"""The README's "Try it on this machine" block, run as written in a fresh clone.

The block is taken from README.md (the sh block after its `<!-- run: ... -->` marker) and run by
bash in a directory that looks like a clone after `make demo` (`.venv` and `events/` linked, the
demo's sample product written), with an environment that names no stack.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from studio_cli.demo import demo_products
from tests.support.cli_stack import clean_environment

REPO = Path(__file__).resolve().parents[2]
MARKER = "<!-- run: tests/e2e/test_readme.py -->"


def readme_block() -> str:
    text = (REPO / "README.md").read_text()
    found = re.search(re.escape(MARKER) + r"\s*```sh\n(.*?)```", text, re.S)
    assert found, f"the README has no sh block after {MARKER}"
    return found.group(1)


def stack_log(clone: Path) -> str:
    """What the stack logged besides its functions' INFO lines (for a failure's message)."""
    log = clone / ".local-stack" / "local.log"
    if not log.is_file():
        return ""
    lines = [
        line
        for line in log.read_text().splitlines()
        if not line.startswith("{") or '"level":"WARNING"' in line or '"level":"ERROR"' in line
    ]
    return "\n--- .local-stack/local.log (tail) ---\n" + "\n".join(lines[-60:])


def test_the_readme_quick_start_runs_as_written(tmp_path: Path) -> None:
    # Given a clone after `make demo`: the venv, the sample events and the demo's sample product
    for name in (".venv", "events"):
        (tmp_path / name).symlink_to(REPO / name)
    linen_shirt = demo_products()[0]
    assert linen_shirt.product_id == "linen-shirt"
    linen_shirt.write(tmp_path / "demo-output" / "samples")
    preamble = "" if shutil.which("aws") else 'aws() { echo "(no aws CLI here: skipped aws $*)"; }\n'
    script = "set -euo pipefail\n" + preamble + readme_block() + "wait\n"

    # When the block runs, line by line, as a user pastes it
    # (bash and the stack it starts in a session of their own, so a hang leaves nothing running)
    process = subprocess.Popen(  # noqa: S603 - bash running the README's own block
        ["bash", "-c", script],  # noqa: S607
        cwd=tmp_path,
        env={**clean_environment(), "STUDIO_STATE_DIR": str(tmp_path / "state"), "COLUMNS": "160"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
        pytest.fail(f"the README block did not finish:\n{stdout}\n{stderr}\n{stack_log(tmp_path)}")
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    output = done.stdout + done.stderr

    # Then every command succeeded, with what the README says it prints
    assert done.returncode == 0, output + stack_log(tmp_path)
    assert "Traceback" not in output
    assert "ready; Ctrl-C stops everything" in output
    assert "done: 1 SUCCEEDED" in output  # watch, then regenerate --watch
    assert output.count("done: 1 SUCCEEDED") == 2
    assert "sim_preset-" in output  # presets
    assert '"batchItemFailures": []' in output  # invoke
    assert "stopped: the local stack is down" in output
    jobs = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    assert len(jobs) == 1 and (jobs[0] / "index.html").is_file()
    assert not (tmp_path / ".local-stack" / "env").exists()
    if shutil.which("aws"):
        assert "/on_figure/front-standing-v1.png" in output  # aws s3 ls of the outbox
    assert os.path.isfile(tmp_path / ".local-stack" / "local.log")
