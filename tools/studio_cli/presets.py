"""``studio presets``: the Aiuta model presets a job may name as ``on_figure_model_preset_id``.

The key is the stack's own (its Secrets Manager secret, as the functions read it), or
``AIUTA_API_KEY`` when set; the URL is the stack's ``AiutaApiUrl`` (the simulator's on the
local stack).
"""

from __future__ import annotations

import json
import os
from typing import Any

from botocore.exceptions import ClientError
from rich.table import Table

from studio_cli.errors import CliError
from studio_cli.stack import Stack
from studio_cli.views import plain
from studio_core.aiuta.answers import OnFigureModelPreset
from studio_core.aiuta.client import AiutaStudioClient
from studio_core.aiuta.requests import DEFAULT_BASE_URL
from studio_core.domain.errors import AiutaError

PLACEHOLDER_KEY = "replace-me"  # what template.yaml's secret holds until the real key is put in
SETTING_ORDER = (
    "gender",
    "age_group",
    "ethnicity",
    "skin_tone",
    "body_shape",
    "height",
    "hair_length",
    "hair_style",
    "hair_color",
)


def api_key(stack: Stack) -> str:
    if os.environ.get("AIUTA_API_KEY"):
        return os.environ["AIUTA_API_KEY"]
    if not stack.api_key_secret:
        raise CliError(
            "the stack's Aiuta key secret is not known",
            hint="name the stack (`--stack NAME`, or STUDIO_STACK) or set AIUTA_API_KEY",
        )
    try:
        secret = stack.client("secretsmanager").get_secret_value(SecretId=stack.api_key_secret)[
            "SecretString"
        ]
    except ClientError as exc:
        raise CliError(f"could not read the Aiuta key from {stack.api_key_secret}: {exc}") from None
    try:
        document = json.loads(secret)
    except ValueError:
        document = secret
    key = str(document.get("api_key", "")) if isinstance(document, dict) else str(document).strip()
    if not key or key == PLACEHOLDER_KEY:
        raise CliError(
            f"the secret {stack.api_key_secret} still holds the placeholder, not an Aiuta key",
            hint=f"aws secretsmanager put-secret-value --secret-id {stack.api_key_secret} "
            '--secret-string \'{"api_key": "..."}\'',
        )
    return key


def list_presets(stack: Stack) -> list[OnFigureModelPreset]:
    client = AiutaStudioClient(api_key(stack), stack.aiuta_api_url or DEFAULT_BASE_URL)
    try:
        return client.list_model_presets()
    except AiutaError as exc:
        raise CliError(f"Aiuta did not list the presets: {exc}") from None
    finally:
        client.close()


def settings_text(preset: OnFigureModelPreset) -> str:
    """``female · young adult · european · body regular · height medium · hair long, wavy, dark blond``."""
    settings = {
        k: str(v).replace("_", " ")
        for k, v in preset.settings.model_dump(mode="json", exclude_none=True).items()
    }
    parts = [settings.pop(name) for name in ("gender", "age_group", "ethnicity") if name in settings]
    for name, label in (("skin_tone", "skin"), ("body_shape", "body"), ("height", "height")):
        if name in settings:
            parts.append(f"{label} {settings.pop(name)}")
    hair = [settings.pop(name) for name in ("hair_length", "hair_style", "hair_color") if name in settings]
    if hair:
        parts.append("hair " + ", ".join(hair))
    parts += [
        name.removeprefix("has_").removeprefix("is_") for name, value in settings.items() if value == "True"
    ]
    parts += [f"{name} {value}" for name, value in settings.items() if value not in ("True", "False")]
    return " · ".join(parts)


def presets_table(presets: list[OnFigureModelPreset]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("PRESET ID", no_wrap=True)
    table.add_column("SETTINGS", overflow="fold")
    table.add_column("SAMPLE IMAGE", overflow="fold")
    for preset in presets:
        table.add_row(plain(preset.preset_id), plain(settings_text(preset)), plain(preset.sample_image or ""))
    return table


def presets_document(presets: list[OnFigureModelPreset]) -> list[dict[str, Any]]:
    return [p.model_dump(mode="json", exclude_none=True) for p in presets]
