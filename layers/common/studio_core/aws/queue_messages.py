"""What arrives on the ingest queue: S3 events, S3's test event, and our delayed settle checks."""

from __future__ import annotations

from typing import Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, Field, ValidationError

from studio_core.domain.base import Model


class S3Object(BaseModel):
    key: str
    eTag: str | None = None
    size: int | None = None
    versionId: str | None = None  # in a versioned bucket: the version this event is about

    @property
    def version(self) -> str:
        """What names the object's version: its version id, else its ETag."""
        return self.versionId or self.eTag or ""


class S3Entity(BaseModel):
    object: S3Object


class S3Identity(BaseModel):
    principalId: str | None = None


class S3Record(BaseModel):
    eventName: str
    s3: S3Entity
    userIdentity: S3Identity | None = None  # who wrote the object (AWS:<role or user id>)

    @property
    def key(self) -> str:
        # S3 URL-encodes keys in events ("+" for a space).
        return unquote_plus(self.s3.object.key)


class S3Notification(BaseModel):
    Records: list[S3Record]


class S3TestEvent(BaseModel):
    Event: Literal["s3:TestEvent"]


class SettleCheck(Model):
    product_id: str
    attempt: int = Field(default=1, ge=1)


class SettleCheckMessage(Model):
    settle_check: SettleCheck


class RegenerationTurn(Model):
    """A regeneration request waiting while another regeneration of the same job runs."""

    product_id: str
    key: str
    object: S3Object
    attempt: int = Field(default=1, ge=1)


class RegenerationTurnMessage(Model):
    regeneration_turn: RegenerationTurn


class ReviewTurn(Model):
    """A review decision written before its job waits for one: looked at again later."""

    product_id: str
    job_id: str
    key: str
    object: S3Object
    attempt: int = Field(default=1, ge=1)


class ReviewTurnMessage(Model):
    review_turn: ReviewTurn


Message = S3Notification | S3TestEvent | SettleCheckMessage | RegenerationTurnMessage | ReviewTurnMessage


def parse_message(body: str) -> Message:
    for model in (
        S3TestEvent,
        SettleCheckMessage,
        RegenerationTurnMessage,
        ReviewTurnMessage,
        S3Notification,
    ):
        try:
            return model.model_validate_json(body)
        except ValidationError:
            continue
    raise ValueError(f"not an S3 event, an s3:TestEvent, a settle check or a turn: {body[:200]!r}")
