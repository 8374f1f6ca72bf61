"""Data import (Setup -> Data Import): open invoices, open credits and inventory in boxes from Excel.

Importing this package registers the ImportCompleted event; the modules are
  model      import types, the job, ImportCompleted, keys
  spec       each type's columns and rules; header matching
  rules      cell rules as plain functions
  validate   row validation (no AWS)
  safety     file kinds and limits; hardened XML
  reader     fast, bounded reading (python-calamine behind a streaming guard)
  results    the results workbook (formula-safe)
  templates  blank templates
  writers    batched, conditional, repeatable writes
  jobs       the job's life on the store
  files      S3
  service    the use cases (API and worker)
"""

from k2k.imports.model import ImportCompleted, ImportType, Job, JobStatus

__all__ = ["ImportCompleted", "ImportType", "Job", "JobStatus"]
