"""Late results: a TIMED_OUT job (or a PARTIAL one with an unfinished operation) checked again.

Aiuta may finish an operation after the job's deadline; its images are paid for. ``studio resume
JOB`` (or StartExecution from the console with the shape of ``events/resume.json``) starts a new
execution of the job, named ``<job>-resume-<n>``, that goes straight into the check loop with a
fresh deadline, copies what finished (links that already expired are reported as such) and ends
SUCCEEDED, PARTIAL, FAILED or TIMED_OUT again. It never creates an operation.
"""

from __future__ import annotations

from datetime import UTC, datetime

from studio_core.aws.executions import Executions
from studio_core.aws.jobs_table import JobsTable
from studio_core.domain.errors import InvalidJob
from studio_core.domain.identity import resume_execution_name
from studio_core.domain.record import JobRecord
from studio_core.domain.state import JobState, ResumeRequest, StepStatus

# A resume whose execution name is taken (an earlier resume crashed before it was recorded) tries
# the next number; past this many, something else is wrong.
MAX_NAME_ATTEMPTS = 5


def resume_state(record: JobRecord, attempt: int) -> JobState:
    """The execution input of a resume: the job's kept operations, polled from the earliest
    round that has an unfinished one; no schedule (the check task starts a fresh one)."""
    if record.job is None or not record.can_resume():
        raise InvalidJob(
            f"job {record.job_id} is {record.status.value}: only a job that ended (TIMED_OUT, PARTIAL "
            "or FAILED) with an operation that had not finished can be resumed"
        )
    unfinished = [op for op in record.operations if op.operation_id and not op.finished]
    return JobState(
        job_id=record.job_id,
        product_id=record.product_id,
        job=record.job,
        input_keys=record.input_keys,
        uploaded_image_ids=record.uploaded_image_ids,
        operations=record.operations,
        round=min(op.round for op in unfinished),
        status=StepStatus.WAITING,
        images_copied=sum(1 for image in record.images if image.key),
        resume=ResumeRequest(attempt=attempt),
        base_job_id=record.base_job_id,
    )


def resume_job(job_id: str, *, jobs: JobsTable, executions: Executions, now: datetime | None = None) -> str:
    """Starts the job's resume execution and marks the job GENERATING; returns the execution name."""
    now = now or datetime.now(UTC)
    record = jobs.get(job_id)
    if record is None:
        raise LookupError(f"no job {job_id!r}")
    for attempt in range(record.resumes + 1, record.resumes + 1 + MAX_NAME_ATTEMPTS):
        state = resume_state(record, attempt)
        name = resume_execution_name(job_id, attempt)
        if executions.start(name, state.to_output()):
            jobs.mark_resumed(job_id, resumes=attempt, execution_name=name, resumed_at=now.isoformat())
            return name
    raise InvalidJob(f"job {job_id} could not be resumed: executions {name} and before already exist")
