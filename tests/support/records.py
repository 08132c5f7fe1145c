"""A finished job's record as the gallery and the events read it: two kinds, a regeneration round."""

from __future__ import annotations

from typing import Any

from studio_core.domain.record import JobRecord

PREFIX = "outbox/sku-1/sku-1-abc/"


def record(**changes: Any) -> JobRecord:
    document: dict[str, Any] = {
        "job_id": "sku-1-abc",
        "product_id": "sku-1",
        "status": "SUCCEEDED",
        "created_at": "2026-12-01T10:00:00+00:00",
        "updated_at": "2026-12-01T10:01:00+00:00",
        "finished_at": "2026-12-01T10:01:00+00:00",
        "input_keys": ["inbox/sku-1/front photo.jpg", "inbox/sku-1/back.jpg"],
        "job": {
            "product": {"id": "sku-1", "title": "Linen <shirt>"},
            "kind": ["on_figure", "flat_lay"],
            "number_of_generations": 2,
            "image_types": {"on_figure": ["front/standing"], "flat_lay": ["ghost_mannequin/front"]},
            "output_image_size": {"width": 300, "height": 400},
            "on_figure_model_settings": {"gender": "female"},
        },
        "operations": [
            {
                "kind": "on_figure",
                "operation_id": "op-on-1",
                "image_types": ["front/standing"],
                "number_of_generations": 2,
                "status": "SUCCESS",
                "copied": True,
            },
            {
                "kind": "flat_lay",
                "operation_id": "op-flat-1",
                "image_types": ["ghost_mannequin/front"],
                "number_of_generations": 2,
                "status": "SUCCESS",
                "copied": True,
            },
            {
                "kind": "on_figure",
                "operation_id": "op-on-2",
                "round": 1,
                "image_types": ["back/walking"],
                "status": "SUCCESS",
                "copied": True,
            },
        ],
        "images": [
            image("on_figure", "front/standing", 1),
            image("on_figure", "front/standing", 2),
            image("flat_lay", "ghost_mannequin/front", 1),
            {**image("flat_lay", "ghost_mannequin/front", 2), "key": None, "error": "the link had expired"},
            image("on_figure", "back/walking", 1, round_=1),
        ],
        "rounds": [{"round": 0, "findings": ["ghost_mannequin/front: 1 of 2 images arrived"]}, {"round": 1}],
    }
    document.update(changes)
    return JobRecord.model_validate(document)


def image(kind: str, label: str, variant: int, round_: int = 0) -> dict[str, Any]:
    shot = label.replace("/", "-")
    suffix = f"-r{round_}" if round_ else ""
    return {
        "kind": kind,
        "image_type": label,
        "variant": variant,
        "round": round_,
        "key": f"{PREFIX}{kind}/{shot}-v{variant}{suffix}.png",
        "aiuta_image_id": f"img-{kind}-{variant}-{round_}",
        "source_url": "https://aiuta.example/files/x.png",
        "width": 300,
        "height": 400,
    }
