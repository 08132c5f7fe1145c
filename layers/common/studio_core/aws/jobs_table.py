"""The jobs table: one item per job, findable by job, by product, and by status.

Keys (see the README): ``pk = JOB#<job_id>``, ``sk = JOB``; GSI1 ``gsi1pk = PRODUCT#<product_id>``,
``gsi1sk = <created_at>#<job_id>`` (a product's jobs, oldest first); GSI2
``gsi2pk = STATUS#<status>``, ``gsi2sk = <updated_at>#<job_id>`` (jobs by status). A job's images
are items of their own beside it, one per round (``sk = IMAGES#<round>``), so the largest job Aiuta
allows (35 types x 4 variants, six rounds, 100-character ids) stays far below DynamoDB's 400 KB
per item; ``get`` reads them back with the job in one query. The table also keeps the products'
first spellings (``PRODUCT#<key>``), the image budget (``aws.budget``) and duration estimates.

Each write method is named for what happened to the job; every read returns a ``JobRecord``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.conditions import ConditionBase, Key
from pydantic import BaseModel

from studio_core.domain.base import Model
from studio_core.domain.identity import product_key
from studio_core.domain.jobs import JobSpec
from studio_core.domain.learned_polling import PollPlan
from studio_core.domain.outcome import Ending
from studio_core.domain.quote import Quote
from studio_core.domain.record import (
    ApprovedImage,
    ImageRecord,
    JobRecord,
    JobStatus,
    PublishedImage,
    RequestKind,
    ReviewDecisionRecord,
    RoundRecord,
    UploadRecord,
)
from studio_core.domain.state import OperationRef

IMAGES_PREFIX = "IMAGES#"
PRODUCT_INDEX = "ByProduct"
STATUS_INDEX = "ByStatus"
_KEY_ATTRIBUTES = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"})


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _to_dynamo(value: Any) -> Any:
    # DynamoDB wants Decimal, not float; models are dumped as JSON (labels, ISO times) first.
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_none=True)
    elif isinstance(value, list | tuple) and value and isinstance(value[0], BaseModel):
        value = [v.model_dump(mode="json", exclude_none=True) for v in value]
    return json.loads(json.dumps(value, default=str), parse_float=Decimal)


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def _record(item: dict[str, Any]) -> JobRecord:
    return JobRecord.model_validate({k: v for k, v in _from_dynamo(item).items() if k not in _KEY_ATTRIBUTES})


class JobsTable:
    def __init__(self, table_name: str, dynamodb_resource: Any | None = None) -> None:
        self._table = (dynamodb_resource or boto3.resource("dynamodb")).Table(table_name)

    # A job comes in

    def create_queued(
        self,
        *,
        job_id: str,
        product_id: str,
        spec: JobSpec,
        request_kind: RequestKind,
        source_key: str,
        execution_name: str,
        input_keys: Sequence[str] = (),
        manifest_etag: str | None = None,
        catalogue_line: int | None = None,
        base_job_id: str | None = None,
        work: WorkRecord | None = None,
    ) -> bool:
        """Records a valid job about to start; False (and nothing changed) when it already exists.

        A further job of work that had one (forced, or a retry) becomes that work's latest job."""
        created = self._create(
            job_id,
            product_id,
            JobStatus.QUEUED,
            job=spec.to_state(),
            request_kind=request_kind.value,
            source_key=source_key,
            execution_name=execution_name,
            input_keys=list(input_keys),
            manifest_etag=manifest_etag,
            catalogue_line=catalogue_line,
            base_job_id=base_job_id,
            **(work.attributes() if work else {}),
        )
        if created and work is not None and work.first_job_id not in (None, job_id):
            self._set(work.first_job_id, latest_job_id=job_id)
        return created

    # The work a job does (domain.identity)

    def latest_job_of(self, first_job_id: str) -> JobRecord | None:
        """The newest job of the work whose first job is ``first_job_id`` (None: no job did it)."""
        first = self.get(first_job_id)
        if first is None or not first.latest_job_id or first.latest_job_id == first_job_id:
            return first
        return self.get(first.latest_job_id) or first

    def note_unchanged(self, job_id: str, *, source: str, at: str) -> None:
        """Another request for work this job did (or does): it started nothing."""
        self._table.update_item(
            Key=_key(job_id),
            UpdateExpression=(
                "ADD unchanged_requests :one SET last_unchanged_source = :s, last_unchanged_at = :t"
            ),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":one": 1, ":s": source, ":t": at},
        )

    def product_spelling(self, product_id: str) -> str | None:
        """How the product was first written, if the pipeline has seen it (ids compare without case)."""
        item = self._table.get_item(Key=_product_key(product_id), ConsistentRead=True).get("Item")
        return str(item["product_id"]) if item else None

    def product_spellings(self, product_ids: Sequence[str]) -> dict[str, str]:
        """``product_key -> first spelling`` for the products of ``product_ids`` the pipeline knows."""
        found: dict[str, str] = {}
        for item in self._batch_get(
            [_product_key(p) for p in dict.fromkeys(product_key(p) for p in product_ids)]
        ):
            found[product_key(str(item["product_id"]))] = str(item["product_id"])
        return found

    def register_product(self, product_id: str) -> tuple[str, bool]:
        """Makes ``product_id`` the product's spelling unless another one came first; returns the
        product's spelling and whether the product was known before."""
        try:
            self._table.put_item(
                Item={**_product_key(product_id), "product_id": product_id, "created_at": utc_now()},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            return self.product_spelling(product_id) or product_id, True
        return product_id, False

    def get_many(self, job_ids: Sequence[str]) -> dict[str, JobRecord]:
        """The jobs of ``job_ids`` that exist, by id (100 to a request)."""
        items = self._batch_get([_key(job_id) for job_id in dict.fromkeys(job_ids)])
        return {record.job_id: record for record in (_record(item) for item in items)}

    def _batch_get(self, keys: list[dict[str, str]]) -> list[dict[str, Any]]:
        client = self._table.meta.client
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {
                self._table.name: {"Keys": keys[start : start + 100], "ConsistentRead": True}
            }
            while request:
                answer = client.batch_get_item(RequestItems=request)
                found.extend(answer.get("Responses", {}).get(self._table.name, []))
                request = answer.get("UnprocessedKeys") or {}
        return found

    def take_regeneration_turn(self, base_job_id: str, job_id: str) -> bool:
        """Makes ``job_id`` the regeneration of ``base_job_id`` that runs now; False while another
        one runs (it has the turn and has not ended)."""
        condition = "attribute_not_exists(regeneration_turn) OR regeneration_turn = :me"
        if self._set_if(base_job_id, condition, regeneration_turn=job_id):
            return True
        base = self.get(base_job_id)
        holder = self.get(base.regeneration_turn) if base and base.regeneration_turn else None
        if holder is not None and not holder.status.is_terminal:
            return False
        return self._set_if(
            base_job_id,
            "regeneration_turn = :held",
            {":held": holder.job_id if holder else ""},
            regeneration_turn=job_id,
        )

    def _set_if(
        self, job_id: str, condition: str, values: dict[str, Any] | None = None, **attributes: Any
    ) -> bool:
        """``_set`` under a condition (its values named ``:me`` = the first attribute's value, or
        given); False when the condition does not hold."""
        names = {f"#a{i}": name for i, name in enumerate(attributes)}
        placeholders = {f":v{i}": _to_dynamo(value) for i, value in enumerate(attributes.values())}
        if ":me" in condition:
            placeholders[":me"] = placeholders[":v0"]
        placeholders.update({name: _to_dynamo(value) for name, value in (values or {}).items()})
        try:
            self._table.update_item(
                Key=_key(job_id),
                UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(attributes))),
                ConditionExpression=f"attribute_exists(pk) AND ({condition})",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=placeholders,
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # A folder's one pending settle check

    def claim_settle_check(self, product_id: str, *, until: float, now: float) -> bool:
        """Takes the folder's one pending settle check (its message due by ``until``, epoch seconds);
        False while another one is pending (a photo event then has nothing to schedule)."""
        try:
            self._table.put_item(
                Item=_to_dynamo({**_settle_key(product_id), "until": until}),
                ConditionExpression="attribute_not_exists(pk) OR #u < :now",
                ExpressionAttributeNames={"#u": "until"},
                ExpressionAttributeValues=_to_dynamo({":now": now}),
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release_settle_check(self, product_id: str) -> None:
        self._table.delete_item(Key=_settle_key(product_id))

    # Cancelling

    def claim_for_submit(self, job_id: str) -> bool:
        """The job's submit may create operations: False when it was cancelled first (nothing paid).
        A cancel that comes later finds the claim and lets the job copy what it paid for."""
        try:
            self._table.update_item(
                Key=_key(job_id),
                UpdateExpression="SET submit_claimed_at = if_not_exists(submit_claimed_at, :now)",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(cancel_requested_at)",
                ExpressionAttributeValues={":now": utc_now()},
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def cancel(self, job_id: str, *, by: str, at: str) -> JobRecord | None:
        """Stops a job: CANCELLED at once if it has created nothing yet; otherwise the request is
        kept and the job copies what it paid for, creates nothing more, and ends CANCELLED.
        Returns the job as it is now (None: no such job); an ended job is left as it ended."""
        client = self._table.meta.client
        try:
            self._table.update_item(
                Key=_key(job_id),
                UpdateExpression=(
                    "SET #s = :cancelled, gsi2pk = :g, gsi2sk = :gs, cancel_requested_at = :at, "
                    "cancelled_by = :by, finished_at = :at, updated_at = :at, #e = :why"
                ),
                ConditionExpression="#s = :queued AND attribute_not_exists(submit_claimed_at)",
                ExpressionAttributeNames={"#s": "status", "#e": "error"},
                ExpressionAttributeValues={
                    ":cancelled": JobStatus.CANCELLED.value,
                    ":queued": JobStatus.QUEUED.value,
                    ":g": f"STATUS#{JobStatus.CANCELLED.value}",
                    ":gs": f"{at}#{job_id}",
                    ":at": at,
                    ":by": by,
                    ":why": f"cancelled by {by} before anything was sent to Aiuta",
                },
            )
        except client.exceptions.ConditionalCheckFailedException:
            with contextlib.suppress(client.exceptions.ConditionalCheckFailedException):  # it has ended
                self._table.update_item(
                    Key=_key(job_id),
                    UpdateExpression="SET cancel_requested_at = if_not_exists(cancel_requested_at, :at), "
                    "cancelled_by = if_not_exists(cancelled_by, :by), updated_at = :at",
                    ConditionExpression="attribute_exists(pk) AND NOT #s IN (:a, :b, :c, :d, :e)",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":at": at,
                        ":by": by,
                        **{f":{n}": s.value for n, s in zip("abcde", _TERMINAL, strict=True)},
                    },
                )
        return self.get(job_id)

    def record_rejection(
        self, *, job_id: str, product_id: str, source_key: str, error: str, finished_at: str
    ) -> bool:
        """Records a job that cannot run (FAILED with the reason); False when it already exists."""
        return self._create(
            job_id, product_id, JobStatus.FAILED, source_key=source_key, error=error, finished_at=finished_at
        )

    # The execution's steps

    def record_upload(self, job_id: str, key: str, image_id: str) -> None:
        """One input uploaded to Aiuta: appended the moment its id exists, so a submit cut off
        half-way through a batch leaves every id it made in the record (reused by the retry)."""
        entry = _to_dynamo([UploadRecord(key=key, image_id=image_id)])
        self._table.update_item(
            Key=_key(job_id),
            UpdateExpression="SET #u = list_append(if_not_exists(#u, :empty), :new), #t = :now",
            ExpressionAttributeNames={"#u": "uploads", "#t": "updated_at"},
            ExpressionAttributeValues={":empty": [], ":new": entry, ":now": utc_now()},
        )

    def record_operations(self, job_id: str, operations: Sequence[OperationRef]) -> None:
        """The job's operations as they are created, before the step that creates them ends."""
        self._set(job_id, operations=operations)

    def record_uploads(self, job_id: str, uploaded_image_ids: Sequence[str]) -> None:
        """The ids the job's operations use, in input order."""
        self._set(job_id, uploaded_image_ids=list(uploaded_image_ids))

    def mark_generating(
        self,
        job_id: str,
        *,
        operations: Sequence[OperationRef],
        submitted_at: str,
        input_mode: str,
        poll_plan: PollPlan | None = None,
    ) -> None:
        self._set(
            job_id,
            JobStatus.GENERATING,
            operations=operations,
            submitted_at=submitted_at,
            input_mode=input_mode,
            poll_plan=poll_plan,
        )

    def record_check(
        self, job_id: str, *, operations: Sequence[OperationRef], checked_at: str, poll_attempts: int
    ) -> None:
        self._set(job_id, operations=operations, last_checked_at=checked_at, poll_attempts=poll_attempts)

    def mark_copying(self, job_id: str) -> None:
        self._set(job_id, JobStatus.COPYING)

    def record_round(
        self,
        job_id: str,
        *,
        images: Sequence[ImageRecord],
        rounds: Sequence[RoundRecord],
        result_key: str,
        operations: Sequence[OperationRef] = (),
        status: JobStatus | None = None,
    ) -> JobRecord:
        """A round's images are copied and another round (or a review) follows; returns the job."""
        return self._set(
            job_id,
            status,
            returning=True,
            images=images,
            rounds=rounds,
            result_key=result_key,
            **_operations(operations),
        ) or _missing(job_id)

    def mark_regenerating(
        self,
        job_id: str,
        *,
        round_: int,
        operations: Sequence[OperationRef],
        poll_plan: PollPlan | None = None,
    ) -> None:
        self._set(job_id, JobStatus.REGENERATING, round=round_, operations=operations, poll_plan=poll_plan)

    def record_ending(
        self,
        job_id: str,
        ending: Ending,
        *,
        finished_at: str,
        operations: Sequence[OperationRef],
        result_key: str | None = None,
        images: Sequence[ImageRecord] | None = None,
        rounds: Sequence[RoundRecord] | None = None,
        deleted_at_aiuta: bool | None = None,
        cleanup_problems: Sequence[str] | None = None,
    ) -> JobRecord:
        """The job's end as ``domain.outcome`` decided it, in one write; returns the job as it is now
        (with ``images``, when given, as they were written)."""
        attributes: dict[str, Any] = {
            "error": ending.reason,
            "finished_at": finished_at,
            "operations": operations,
            "result_key": result_key,
            "deleted_at_aiuta": deleted_at_aiuta,
            "cleanup_problems": list(cleanup_problems) if cleanup_problems is not None else None,
        }
        if images is not None:
            attributes.update(images=images, rounds=list(rounds or []))
        written = {name: value for name, value in attributes.items() if value is not None or name == "error"}
        return self._set(job_id, ending.status, returning=True, **written) or _missing(job_id)

    def mark_resumed(self, job_id: str, *, resumes: int, execution_name: str, resumed_at: str) -> None:
        """A TIMED_OUT or PARTIAL job is being checked again by the execution ``execution_name``."""
        self._set(
            job_id,
            JobStatus.GENERATING,
            resumes=resumes,
            execution_name=execution_name,
            resumed_at=resumed_at,
            finished_at=None,
        )

    def await_review(self, job_id: str, *, token: str, round_: int, deadline_at: str) -> None:
        """The execution waits for a decision on ``round_``, resumed with ``token``."""
        self._set(
            job_id,
            JobStatus.AWAITING_REVIEW,
            review_state="waiting",
            review_token=token,
            review_round=round_,
            review_deadline_at=deadline_at,
            review_pending=None,
        )

    def take_review_decision(self, job_id: str, decision: ReviewDecisionRecord, *, token: str) -> bool:
        """Records ``decision`` as the one handed to the waiting execution (``token``); False when
        the job no longer waits with that token or another decision is being handed to it."""
        entry = _to_dynamo([decision])
        try:
            self._table.update_item(
                Key=_key(job_id),
                UpdateExpression=(
                    "SET review_pending = :id, #d = list_append(if_not_exists(#d, :empty), :new), #t = :now"
                ),
                ConditionExpression=(
                    "attribute_exists(pk) AND review_token = :token AND "
                    "(attribute_not_exists(review_pending) OR review_pending = :none)"
                ),
                ExpressionAttributeNames={"#d": "review_decisions", "#t": "updated_at"},
                ExpressionAttributeValues={
                    ":id": decision.decision_id,
                    ":empty": [],
                    ":new": entry,
                    ":now": utc_now(),
                    ":token": token,
                    ":none": None,
                },
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def record_decision(self, job_id: str, decision: ReviewDecisionRecord) -> None:
        """A decision taken outside a wait: the automatic review, or a late approval of an ended job."""
        self._table.update_item(
            Key=_key(job_id),
            UpdateExpression="SET #d = list_append(if_not_exists(#d, :empty), :new), #t = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#d": "review_decisions", "#t": "updated_at"},
            ExpressionAttributeValues={":empty": [], ":new": _to_dynamo([decision]), ":now": utc_now()},
        )

    def apply_review_decision(
        self, job_id: str, *, approved: Sequence[ApprovedImage], review_state: str | None
    ) -> None:
        """The execution took its decision: the approvals it leaves, and the wait is over."""
        self._set(
            job_id,
            approved_images=list(approved),
            review_state=review_state,
            review_token=None,
            review_pending=None,
        )

    def record_published(
        self, job_id: str, *, published: Sequence[PublishedImage], published_at: str, review_state: str
    ) -> None:
        self._set(
            job_id, published_images=list(published), published_at=published_at, review_state=review_state
        )

    def close_review(self, job_id: str, *, review_state: str) -> None:
        self._set(job_id, review_state=review_state, review_token=None, review_pending=None)

    # Reads

    def get(self, job_id: str) -> JobRecord | None:
        """The job, with every image of every round (one query: its item and its rounds' items)."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(f"JOB#{job_id}"),
            "ConsistentRead": True,
        }
        while True:
            page = self._table.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        job = next((item for item in items if item.get("sk") == "JOB"), None)
        if job is None:
            return None
        rounds = sorted((i for i in items if str(i.get("sk", "")).startswith(IMAGES_PREFIX)), key=_round_of)
        if rounds:
            job = {**job, "images": [image for item in rounds for image in item.get("images", [])]}
        return _record(job)

    def for_product(self, product_id: str) -> list[JobRecord]:
        """A product's jobs, oldest first."""
        return self._query(PRODUCT_INDEX, Key("gsi1pk").eq(f"PRODUCT#{product_id}"))

    def with_status(self, status: JobStatus) -> list[JobRecord]:
        return self._query(STATUS_INDEX, Key("gsi2pk").eq(f"STATUS#{status.value}"))

    def all_jobs(self) -> list[JobRecord]:
        records: list[JobRecord] = []
        kwargs: dict[str, Any] = {}
        while True:
            page = self._table.scan(**kwargs)
            records.extend(_record(i) for i in page.get("Items", []) if i.get("sk") == "JOB")
            if "LastEvaluatedKey" not in page:
                return sorted(records, key=lambda r: r.created_at)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # Plumbing

    def _create(self, job_id: str, product_id: str, status: JobStatus, **attributes: Any) -> bool:
        now = utc_now()
        item = {
            **_key(job_id),
            "job_id": job_id,
            "product_id": product_id,
            "status": status.value,
            "created_at": now,
            "updated_at": now,
            "gsi1pk": f"PRODUCT#{product_id}",
            "gsi1sk": f"{now}#{job_id}",
            "gsi2pk": f"STATUS#{status.value}",
            "gsi2sk": f"{now}#{job_id}",
            **{name: value for name, value in attributes.items() if value is not None},
        }
        try:
            self._table.put_item(Item=_to_dynamo(item), ConditionExpression="attribute_not_exists(pk)")
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _set(
        self, job_id: str, status: JobStatus | None = None, *, returning: bool = False, **attributes: Any
    ) -> JobRecord | None:
        """Sets attributes (and the status with its index keys) on a recorded job; ``images`` go to
        the job's round items, and the job item keeps their counts. A job that was never recorded
        is not half-written: ``LookupError``."""
        now = utc_now()
        images = attributes.pop("images", None)
        values: dict[str, Any] = {"updated_at": now, **attributes}
        removed = ""
        if images is not None:
            self._put_rounds(job_id, images)
            copied = sum(1 for image in images if image.key)
            thumbnail = next((image.key for image in images if image.key and image.error is None), None)
            values.update(images_copied=copied, images_missing=len(images) - copied, thumbnail_key=thumbnail)
            removed = " REMOVE images"  # a record from before the round items kept them inline
        if status is not None:
            values.update(status=status.value, gsi2pk=f"STATUS#{status.value}", gsi2sk=f"{now}#{job_id}")
        names = {f"#a{i}": name for i, name in enumerate(values)}
        placeholders = {f":v{i}": _to_dynamo(value) for i, value in enumerate(values.values())}
        try:
            answer = self._table.update_item(
                Key=_key(job_id),
                UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(values))) + removed,
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=placeholders,
                **({"ReturnValues": "ALL_NEW"} if returning else {}),
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            raise LookupError(f"job {job_id} is not recorded: nothing was written") from None
        if not returning:
            return None
        item = dict(answer.get("Attributes") or {})
        if images is not None:
            item["images"] = _to_dynamo(list(images))
        return _record(item)

    def _put_rounds(self, job_id: str, images: Sequence[ImageRecord]) -> None:
        """Each round's images as the round's item (written whole: a round's images are final)."""
        by_round: dict[int, list[ImageRecord]] = {}
        for image in images:
            by_round.setdefault(image.round, []).append(image)
        with self._table.batch_writer() as batch:
            for round_, round_images in sorted(by_round.items()):
                batch.put_item(
                    Item=_to_dynamo(
                        {
                            "pk": f"JOB#{job_id}",
                            "sk": f"{IMAGES_PREFIX}{round_:03d}",
                            "images": [i.model_dump(mode="json", exclude_none=True) for i in round_images],
                        }
                    )
                )

    def _query(self, index: str, condition: ConditionBase) -> list[JobRecord]:
        records: list[JobRecord] = []
        kwargs: dict[str, Any] = {"IndexName": index, "KeyConditionExpression": condition}
        while True:
            page = self._table.query(**kwargs)
            records.extend(_record(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return records
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _operations(operations: Sequence[OperationRef]) -> dict[str, Any]:
    return {"operations": operations} if operations else {}


def _key(job_id: str) -> dict[str, str]:
    return {"pk": f"JOB#{job_id}", "sk": "JOB"}


def _round_of(item: dict[str, Any]) -> int:
    return int(str(item["sk"]).removeprefix(IMAGES_PREFIX))


def _settle_key(product_id: str) -> dict[str, str]:
    return {"pk": f"SETTLE#{product_key(product_id)}", "sk": "SETTLE"}


def _missing(job_id: str) -> JobRecord:
    raise LookupError(f"job {job_id} is not recorded")


def _product_key(product_id: str) -> dict[str, str]:
    return {"pk": f"PRODUCT#{product_key(product_id)}", "sk": "PRODUCT"}


_TERMINAL = tuple(status for status in JobStatus if status.is_terminal)


class WorkRecord(Model):
    """What the record keeps of the work a job does (``domain.identity``) and its price."""

    identity: str
    source_version: str
    first_job_id: str | None = None  # the work's first job, when this is a further one
    novelty: str | None = None
    forced: bool = False
    retry_of: str | None = None
    input_checksums: list[str] = []
    quote: Quote | None = None

    def attributes(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"first_job_id"}, exclude_none=True)
