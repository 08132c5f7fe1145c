"""The three Studio workflow flows, run by the CLI's walk-through against the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from studio_cli.main import main
from studio_cli.seed_flows import run_seed_flows


def test_seed_flows_save_every_generated_image(tmp_path: Path) -> None:
    # Given a fresh simulator with short operations
    lines: list[str] = []

    # When the three flows run
    saved = run_seed_flows(tmp_path, lines.append, operation_seconds=0.2)

    # Then each flow saved the images it asked for, and they are real pictures
    assert saved == {"urls": 1, "upload": 2, "regeneration": 2}
    flat_lays = sorted((tmp_path / "flow-2-upload").glob("*.png"))
    assert [p.name for p in flat_lays] == ["ghost_mannequin-front-1.png", "ghost_mannequin-front-2.png"]
    for picture in flat_lays:
        with Image.open(picture) as image:
            assert image.size == (600, 800)
    regenerated = {p.name for p in (tmp_path / "flow-3-regeneration").glob("*.png")}
    assert regenerated == {"back-walking-1.png", "front-standing-1.png"}
    assert any("SUCCESS" in line for line in lines)


def test_studio_help_lists_the_commands(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in ("sim", "seed-flows", "demo"):
        assert command in out
