"""The simulator's on-figure model presets: a handful of plausible appearances."""

from __future__ import annotations

from dataclasses import dataclass

from studio_core.aiuta.requests import OnFigureModelSettings


@dataclass(frozen=True)
class Preset:
    preset_id: str
    settings: OnFigureModelSettings
    colour: tuple[int, int, int]

    @property
    def caption(self) -> str:
        parts = [self.settings.gender, self.settings.age_group, self.settings.ethnicity]
        return ", ".join(str(part).replace("_", " ") for part in parts if part is not None)


def _preset(preset_id: str, colour: tuple[int, int, int], **settings: object) -> Preset:
    return Preset(preset_id, OnFigureModelSettings.model_validate(settings), colour)


PRESETS: dict[str, Preset] = {
    preset.preset_id: preset
    for preset in (
        _preset(
            "sim_preset-female-young-european",
            (214, 170, 150),
            gender="female",
            age_group="young_adult",
            ethnicity="european",
            body_shape="regular",
            height="medium",
            hair_length="long",
            hair_style="wavy",
            hair_color="dark_blond",
        ),
        _preset(
            "sim_preset-male-adult-african",
            (120, 85, 60),
            gender="male",
            age_group="middle_aged_adult",
            ethnicity="african",
            skin_tone="dark_brown",
            body_shape="muscular",
            height="tall",
            hair_length="short",
            hair_style="curly",
            hair_color="black",
            has_beard=True,
        ),
        _preset(
            "sim_preset-female-adult-asian-plus",
            (200, 160, 120),
            gender="female",
            age_group="middle_aged_adult",
            ethnicity="asian",
            body_shape="plus_sized",
            height="short",
            hair_length="medium",
            hair_style="straight",
            hair_color="black",
        ),
        _preset(
            "sim_preset-male-teen-latino",
            (170, 120, 90),
            gender="male",
            age_group="teen",
            ethnicity="latino",
            skin_tone="light_brown",
            body_shape="thin",
            height="medium",
            hair_length="short",
            hair_style="wavy",
            hair_color="dark_brown",
        ),
    )
}
