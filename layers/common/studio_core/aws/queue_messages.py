"""What arrives on the ingest queue: S3 events, S3's test event, and our delayed settle checks."""

from __future__ import annotations

from typing import Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, Field, ValidationError


class S3Object(BaseModel):
    key: str
    eTag: str | None = None
    size: int | None = None


class S3Entity(BaseModel):
    object: S3Object


class S3Record(BaseModel):
    eventName: str
    s3: S3Entity

    @property
    def key(self) -> str:
        # S3 URL-encodes keys in events ("+" for a space).
        return unquote_plus(self.s3.object.key)


class S3Notification(BaseModel):
    Records: list[S3Record]


class S3TestEvent(BaseModel):
    Event: Literal["s3:TestEvent"]


class SettleCheck(BaseModel):
    product_id: str
    attempt: int = Field(default=1, ge=1)


class SettleCheckMessage(BaseModel):
    settle_check: SettleCheck


def parse_message(body: str) -> S3Notification | S3TestEvent | SettleCheckMessage:
    for model in (S3TestEvent, SettleCheckMessage, S3Notification):
        try:
            return model.model_validate_json(body)
        except ValidationError:
            continue
    raise ValueError(f"not an S3 event, an s3:TestEvent or a settle check: {body[:200]!r}")
