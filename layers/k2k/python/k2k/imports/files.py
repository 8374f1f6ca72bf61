"""The import's files on S3: the upload in the drop bucket (kept), results and templates. The only S3 code."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from k2k import aws
from k2k.imports.safety import FileRejected

UPLOAD_LINK_SECONDS = 15 * 60
# SigV4 links live at most 7 days, and no longer than the credentials that signed them (a Lambda role's
# session); the job resource always hands out a fresh one.
RESULTS_LINK_SECONDS = 7 * 24 * 3600
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class Download:
    path: Path
    sha256: str
    size: int


def _s3() -> Any:
    return aws.client("s3")


def head(bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return dict(_s3().head_object(Bucket=bucket, Key=key))
    except ClientError as e:
        if e.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def download(bucket: str, key: str, dest: Path, max_bytes: int) -> Download:
    """The uploaded file on local disk, hashed as it streams; never more than max_bytes read."""
    meta = head(bucket, key)
    if meta is None:
        raise FileRejected("the uploaded file is no longer in the drop folder")
    size = int(meta.get("ContentLength", 0))
    if size > max_bytes:
        raise FileRejected(f"the file is {size / 2**20:,.1f} MiB; at most {max_bytes // 2**20} MiB")
    body = _s3().get_object(Bucket=bucket, Key=key)["Body"]
    digest = hashlib.sha256()
    read = 0
    with dest.open("wb") as out:
        for chunk in iter(lambda: body.read(1024 * 1024), b""):
            read += len(chunk)
            if read > max_bytes:
                raise FileRejected(f"the file is larger than {max_bytes // 2**20} MiB")
            digest.update(chunk)
            out.write(chunk)
    return Download(dest, digest.hexdigest(), read)


def upload(bucket: str, key: str, path: Path) -> None:
    _s3().upload_file(str(path), bucket, key, ExtraArgs={"ContentType": XLSX_TYPE})


def put_bytes(bucket: str, key: str, data: bytes) -> None:
    _s3().put_object(Bucket=bucket, Key=key, Body=data, ContentType=XLSX_TYPE)


def upload_link(bucket: str, key: str) -> str:
    return str(_s3().generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=UPLOAD_LINK_SECONDS))


def download_link(bucket: str, key: str, filename: str, seconds: int = RESULTS_LINK_SECONDS) -> str:
    return str(_s3().generate_presigned_url(
        "get_object",
        Params={"Bucket": bucket, "Key": key, "ResponseContentDisposition": f'attachment; filename="{filename}"'},
        ExpiresIn=seconds))
