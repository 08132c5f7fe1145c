"""The README's references stay complete: every template parameter, every `studio` command."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from studio_cli.main import build_parser
from studio_local.cfn_yaml import load_template

REPO = Path(__file__).resolve().parents[2]


def section(title: str) -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_every_template_parameter_is_in_the_configuration_reference() -> None:
    parameters = load_template(REPO / "template.yaml")["Parameters"]
    documented = set(re.findall(r"^\| `(\w+)` \|", section("Configuration reference"), re.M))

    missing = sorted(set(parameters) - documented)
    assert not missing, f"README's configuration reference lacks {missing}"
    assert not documented - set(parameters), "README documents parameters the template does not have"


def test_every_studio_command_is_in_the_command_table() -> None:
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    table = section("The `studio` command")

    for name in commands.choices:
        if name in ("sim",):  # documented as studio-sim
            continue
        assert f"`studio {name}" in table, name
