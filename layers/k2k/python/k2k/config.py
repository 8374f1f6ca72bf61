"""Typed configuration, parsed from the environment the template gives every function."""

import os
from typing import Self

from k2k.models import Model


class Settings(Model):
    table_name: str
    event_bus_name: str
    drop_bucket: str = ""
    documents_bucket: str = ""
    sender_email: str = "noreply@k2k.example.com"
    event_bus_arn: str = ""
    scheduler_role_arn: str = ""
    schedule_dlq_arn: str = ""

    @classmethod
    def from_env(cls) -> Self:
        return cls(
            table_name=os.environ["TABLE_NAME"],
            event_bus_name=os.environ["EVENT_BUS_NAME"],
            drop_bucket=os.environ.get("DROP_BUCKET", ""),
            documents_bucket=os.environ.get("DOCUMENTS_BUCKET", ""),
            sender_email=os.environ.get("SENDER_EMAIL", "noreply@k2k.example.com"),
            event_bus_arn=os.environ.get("EVENT_BUS_ARN", ""),
            scheduler_role_arn=os.environ.get("SCHEDULER_ROLE_ARN", ""),
            schedule_dlq_arn=os.environ.get("SCHEDULE_DLQ_ARN", ""),
        )
