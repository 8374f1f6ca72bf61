"""Import jobs on the store: created queued, claimed by one worker at a time, finished once with its event.

A job is claimed with a lease owned by the SQS message that carries it: a
redelivery of that message (the worker died) takes the job back at once; a
duplicate message finds the lease held and leaves the job alone. Finishing is
one transaction: the job's final state and its ImportCompleted event.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from k2k import paging, store
from k2k.errors import Conflict
from k2k.events import new_event, outbox
from k2k.imports.model import (
    JOB_PREFIX,
    ImportCompleted,
    ImportType,
    Job,
    JobStatus,
    hash_sk,
    imports_pk,
    job_sk,
)
from k2k.store import ConditionFailed, Store, plain, to_item

# Longer than a Lambda can run (15 minutes): a live lease means a live worker.
LEASE = timedelta(minutes=16)


def now() -> datetime:
    return datetime.now(UTC)


def _key(company_id: str, job_id: str) -> dict[str, str]:
    return {"pk": imports_pk(company_id), "sk": job_sk(job_id)}


def create(db: Store, job: Job) -> bool:
    """Store a new job; False when a job with this id already exists (a redelivered drop)."""
    try:
        db.put(to_item(job, **_key(job.company_id, job.job_id), kind="IMPORT_JOB", notified=False),
               condition="attribute_not_exists(pk)")
    except ConditionFailed:
        return False
    return True


def load(db: Store, company_id: str, job_id: str) -> tuple[Job, dict[str, Any]] | None:
    item = db.get(imports_pk(company_id), job_sk(job_id))
    if item is None:
        return None
    return Job.model_validate(plain(item)), item


def get(db: Store, company_id: str, job_id: str) -> Job | None:
    found = load(db, company_id, job_id)
    return found[0] if found else None


def recent(db: Store, company_id: str, limit: int, token: str | None) -> tuple[list[Job], str | None]:
    """A page of the company's jobs, newest first (job ids start with their creation second)."""
    items, next_token = paging.read(db, company_id, imports_pk(company_id), JOB_PREFIX, descending=True,
                                    limit=limit, token=token)
    return [Job.model_validate(plain(i)) for i in items], next_token


def claim(db: Store, job: Job, owner: str, at: datetime) -> bool:
    """Take the job for this worker: it is queued, or its lease ran out, or this message already held it."""
    try:
        item = db.update(
            _key(job.company_id, job.job_id),
            "SET #s = :processing, lease_owner = :owner, lease_until = :until, "
            "started_at = if_not_exists(started_at, :now), attempts = if_not_exists(attempts, :zero) + :one",
            values={":processing": JobStatus.PROCESSING.value, ":queued": JobStatus.QUEUED.value,
                    ":owner": owner, ":until": int((at + LEASE).timestamp()), ":now": at.isoformat(),
                    ":epoch": int(at.timestamp()), ":zero": 0, ":one": 1},
            condition="#s = :queued OR (#s = :processing AND (lease_until < :epoch OR lease_owner = :owner))",
            names={"#s": "status"},
        )
    except ConditionFailed:
        return False
    job.status = JobStatus.PROCESSING
    job.started_at = datetime.fromisoformat(item["started_at"])
    return True


def progress(db: Store, job: Job, rows_read: int, rows_total: int) -> None:
    job.progress.rows_read, job.progress.rows_total = rows_read, rows_total
    db.update(_key(job.company_id, job.job_id), "SET progress = :p",
              values={":p": {"rows_read": rows_read, "rows_total": rows_total}})


def hash_holder(db: Store, company_id: str, import_type: ImportType, sha256: str) -> str | None:
    item = db.get(imports_pk(company_id), hash_sk(import_type, sha256))
    return str(item["job_id"]) if item else None


def claim_hash(db: Store, job: Job, sha256: str) -> str | None:
    """Mark this file's content as imported by this job; the other job's id if one got there first."""
    try:
        db.put({"pk": imports_pk(job.company_id), "sk": hash_sk(job.import_type, sha256), "kind": "IMPORT_HASH",
                "job_id": job.job_id, "filename": job.filename, "claimed_at": now().isoformat()},
               condition="attribute_not_exists(pk) OR job_id = :me", values={":me": job.job_id})
    except ConditionFailed:
        return hash_holder(db, job.company_id, job.import_type, sha256) or "unknown"
    return None


def finish(db: Store, job: Job, owner: str, *, release_hash: str | None = None) -> None:
    """Write the final state and ImportCompleted together; only the lease owner can."""
    job.finished_at = now()
    data = ImportCompleted(job_id=job.job_id, company_id=job.company_id, import_type=job.import_type,
                           status=job.status, filename=job.filename, rows_total=job.progress.rows_total,
                           imported=job.imported, rejected=job.rejected, failure_reason=job.failure_reason,
                           results_key=job.results_key)
    event = new_event(data, company_id=job.company_id, aggregate_id=job.job_id, aggregate_version=1)
    ops = [
        store.put(to_item(job, **_key(job.company_id, job.job_id), kind="IMPORT_JOB", notified=False,
                          lease_owner=owner),
                  condition="#s = :processing AND lease_owner = :owner",
                  values={":processing": JobStatus.PROCESSING.value, ":owner": owner}, names={"#s": "status"}),
        outbox(event),
    ]
    if release_hash:
        # A failed job gives its content back, so the same file can be dropped again.
        ops.append(store.delete({"pk": imports_pk(job.company_id), "sk": hash_sk(job.import_type, release_hash)},
                                condition="attribute_not_exists(pk) OR job_id = :me", values={":me": job.job_id}))
    try:
        db.transact(ops)
    except ConditionFailed as e:
        raise Conflict("the import job was taken over by another worker") from e


def mark_notified(db: Store, job: Job) -> None:
    db.update(_key(job.company_id, job.job_id), "SET notified = :t", values={":t": True})


def needs_notice(item: dict[str, Any]) -> bool:
    return JobStatus(item["status"]).finished and not item.get("notified", False)
