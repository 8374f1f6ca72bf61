"""Data import: import types, the job and its states, the ImportCompleted event, and the keys.

Keys (all in the importing company's partitions, see docs/data-import.md):
  job                 C#<cid>#IMPORT   JOB#<job_id>
  re-drop guard       C#<cid>#IMPORT   HASH#<type>#<sha256>
  pending boxes       C#<cid>#IMPORT   PENDING#<job_id>#<row>
  open invoice        C#<cid>          INVREF#<invoice #>     gsi1: C#<cid>#INVPO#<customer po> / <date>#<invoice #>
                                                              gsi2: C#<cid>#CUSTINV#<customer> / (its sk)
                                                              gsi3: C#<cid>#INVDATE#<date> / (its sk)
  balance adjustment  C#<cid>          BALADJ#<credit #>
"""

import hashlib
import secrets
import time
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from k2k.events import event_type
from k2k.models import Model


class ImportType(StrEnum):
    OPEN_INVOICES = "open-invoices"
    OPEN_CREDITS = "open-credits"
    INVENTORY_IN_BOXES = "inventory-in-boxes"


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.COMPLETED_WITH_ERRORS, JobStatus.FAILED)


class Progress(Model):
    rows_read: int = 0
    rows_total: int = 0


class Job(Model):
    """One import of one file, from upload to the results email."""

    job_id: str
    company_id: str
    import_type: ImportType
    status: JobStatus
    filename: str
    key: str = Field(description="the uploaded file in the drop bucket (kept)")
    uploaded_by: str | None = Field(default=None, description="who gets the results email")
    confirm_inventory: bool = False
    progress: Progress = Field(default_factory=Progress)
    imported: int = 0
    rejected: int = 0
    failure_reason: str | None = None
    results_key: str | None = Field(default=None, description="the results workbook in the documents bucket")
    file_sha256: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


@event_type("k2k.imports", "ImportCompleted")
class ImportCompleted(Model):
    """An import finished: completed, completed with errors, or failed (with the reason)."""

    job_id: str
    company_id: str
    import_type: ImportType
    status: JobStatus
    filename: str
    rows_total: int
    imported: int
    rejected: int
    failure_reason: str | None = None
    results_key: str | None = None


# -- ids and keys ---------------------------------------------------------------------------------

def new_job_id(seed: str | None = None, at: float | None = None) -> str:
    """12 hex characters, time-ordered (8 for the second, 4 random or derived from `seed`).

    A seed (the S3 event's identity) makes a redelivered drop land on the same job.
    """
    seconds = int(at if at is not None else time.time()) & 0xFFFFFFFF
    tail = hashlib.sha256(seed.encode()).hexdigest()[:4] if seed else secrets.token_hex(2)
    return f"{seconds:08x}{tail}"


def imports_pk(company_id: str) -> str:
    return f"C#{company_id}#IMPORT"


def job_sk(job_id: str) -> str:
    return f"JOB#{job_id}"


JOB_PREFIX = "JOB#"


def hash_sk(import_type: ImportType, sha256: str) -> str:
    return f"HASH#{import_type.value}#{sha256}"


def pending_sk(job_id: str, row: int) -> str:
    return f"PENDING#{job_id}#{row:07d}"


def pending_prefix(job_id: str) -> str:
    return f"PENDING#{job_id}#"


def invoice_sk(invoice_no: str) -> str:
    return f"INVREF#{invoice_no}"


def invoices_by_po_pk(company_id: str, customer_po: str) -> str:
    return f"C#{company_id}#INVPO#{customer_po}"


def invoices_by_date_pk(company_id: str, day: str) -> str:
    """gsi3: the open invoices of one invoice date (ISO)."""
    return f"C#{company_id}#INVDATE#{day}"


def credit_sk(credit_no: str) -> str:
    return f"BALADJ#{credit_no}"


def box_code(job_id: str, row: int) -> str:
    """Unique per imported row and the same on a retry: job id + sheet row (at most 20 characters)."""
    return f"{job_id}-{row}"


def drop_key(company_id: str, import_type: ImportType, job_id: str, filename: str) -> str:
    return f"imports/{company_id}/{import_type.value}/{job_id}/{filename}"


def results_key(company_id: str, job_id: str) -> str:
    return f"imports/{company_id}/{job_id}/results.xlsx"
