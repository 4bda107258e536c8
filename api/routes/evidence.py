"""Evidence: a party uploads a file (multipart) and attaches it, by its digest, to its opening or its
message; the parties of a case and support download the files the case holds."""

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, File, Path, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from api.auth import Caller, Role
from api.dependencies import CallerDep, ServiceDep, allow
from api.parameters import CaseId
from api.problem import Problem
from cases.evidence import Attachment
from cases.refusal import Refusal
from store.evidence import EvidenceFiles

router = APIRouter()

UPLOAD_PATH = "/v1/evidence"
MULTIPART_OVERHEAD = 64 * 1024  # an upload's body: the file, its part headers and boundaries
DigestPath = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="The file's SHA-256, as the case view lists it.")]
UPLOADERS = (Role.BUYER_APP, Role.SELLER_PORTAL, Role.SUPPORT_CONSOLE)


class Uploaded(BaseModel):
    """The reference to attach: `{"digest", "kind", "caption"}` in a message's or an opening's `evidence`."""

    digest: str
    media_type: str
    size: int


def uploader(caller: Caller) -> str:
    return f"api:{caller.name}"


@router.post(UPLOAD_PATH, status_code=201, response_model=Uploaded, tags=["evidence"])
async def upload_evidence(
    file: Annotated[UploadFile, File(description="A photo, a video, a screenshot or a PDF.")], caller: CallerDep, service: ServiceDep
) -> Uploaded:
    """Stores a file in the evidence store, encrypted, under the SHA-256 of its content; its type is
    read from its bytes, never its name. Only the caller that uploaded a file may attach it."""
    allow(caller, *UPLOADERS)
    content = await file.read(service.evidence.max_bytes + 1)
    try:
        stored = await asyncio.to_thread(service.evidence.upload, content, uploader(caller), datetime.now(UTC))
    except Refusal as refusal:
        raise Problem(413 if "bytes" in refusal.rule else 422, "File refused", refusal.field, refusal.rule) from None
    return Uploaded(digest=stored.digest, media_type=stored.media_type, size=stored.size)


@router.get(
    "/v1/cases/{case_id}/evidence/{digest}",
    tags=["evidence"],
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download_evidence(case_id: CaseId, digest: DigestPath, caller: CallerDep, service: ServiceDep) -> Response:
    """A file the case holds, for the case's own parties and support; any other file or case is a 404."""
    allow(caller, *UPLOADERS)
    parties = await service.client.parties(case_id)
    missing = Problem(404, "No such file", "digest", f"{caller.name} has no case {case_id} with file {digest[:12]}")
    if parties is None or not caller.may_read(*parties):
        raise missing
    found = await service.client.file_of(case_id, digest)
    if found is None:
        raise missing
    content, media_type = found
    headers = {
        "Content-Disposition": f'attachment; filename="{digest[:16]}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }
    return Response(content, media_type=media_type, headers=headers)


async def owned(files: EvidenceFiles, caller: Caller, attachments: list[Attachment], where: str = "") -> list[Attachment]:
    """The attachments, each a file this caller uploaded, described by the evidence store; 422 naming
    the file otherwise (`where` names the issue of a report: `issues[1].`)."""
    try:
        return await asyncio.to_thread(files.attached, attachments, uploader(caller))
    except Refusal as refusal:
        raise Problem(422, "No such file of yours", f"{where}{refusal.field}", refusal.rule) from None
