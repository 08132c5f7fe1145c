"""The env file ``studio local up --env-file`` writes: ``export NAME=value`` lines a shell can source."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def render_env_file(environment: Mapping[str, str]) -> str:
    """``export NAME=value`` lines, values shell-quoted, one per variable, in the given order."""
    lines = ["# Written by the Studio local stack; source it: . ./this-file"]
    for name, value in environment.items():
        if not NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid environment variable name")
        lines.append(f"export {name}={shlex.quote(value)}")
    return "\n".join(lines) + "\n"
