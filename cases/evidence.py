"""Evidence: photos, videos, screenshots and documents the parties give with a claim or an answer.
Files never travel through a case: they live in the evidence store (store.evidence), content-addressed
and encrypted, and a case holds references to them: digest, media type, size, who added it and when."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from cases.model import Actor
from cases.refusal import Refusal
from cases.strict import Strict

Digest = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="The SHA-256 of the file's content, in hex: its address in the evidence store.")]
MAX_ATTACHMENTS = 10  # files one message carries


class EvidenceKind(StrEnum):
    PHOTO = "photo"
    VIDEO = "video"
    SCREENSHOT = "screenshot"
    DOCUMENT = "document"


class Attachment(Strict):
    """A file a message carries, by reference. Its media type and size are what the evidence store read
    from the file's bytes at upload: the API and the client fill them in, never the sender."""

    model_config = ConfigDict(frozen=True)

    digest: Digest
    kind: EvidenceKind
    caption: str | None = Field(default=None, max_length=300)
    media_type: str | None = Field(default=None, max_length=100, description="Filled in from the evidence store.")
    size: int | None = Field(default=None, ge=1, description="Bytes; filled in from the evidence store.")


class Evidence(BaseModel):
    """A file on the case: the reference, who added it, when, and with which message."""

    digest: str
    kind: EvidenceKind
    caption: str | None = None
    media_type: str
    size: int
    added_by: Actor
    added_at: datetime
    with_message: str


class EvidenceRules(Strict):
    """What a policy takes: how many files a case holds at most, how large each, of which types (as read
    from their content, never their name)."""

    max_files: int = Field(default=20, ge=0, le=200)
    max_bytes: int = Field(default=20_000_000, ge=1, le=100_000_000)
    media_types: set[str] = Field(
        default={"image/jpeg", "image/png", "image/webp", "image/heic", "application/pdf", "video/mp4", "video/quicktime"},
        description="Media types as the evidence store reads them from a file's first bytes.",
    )


def check_attachments(rules: EvidenceRules, held: int, attachments: list[Attachment], policy: str) -> None:
    """Whether a case that holds `held` files may take these too. Raises Refusal naming the file and the rule."""
    if held + len(attachments) > rules.max_files:
        raise Refusal("evidence", f"policy {policy} takes at most {rules.max_files} files a case; this case holds {held}")
    for n, attachment in enumerate(attachments):
        if attachment.media_type is None or attachment.size is None:
            raise Refusal(
                f"evidence[{n}].digest", "not read from the evidence store: attach files through the API or the client, after uploading them"
            )
        if attachment.media_type not in rules.media_types:
            taken = ", ".join(sorted(rules.media_types))
            raise Refusal(f"evidence[{n}].media_type", f"{attachment.media_type} is not a type policy {policy} takes ({taken})")
        if attachment.size > rules.max_bytes:
            raise Refusal(f"evidence[{n}].size", f"at most {rules.max_bytes} bytes a file under policy {policy}")


def recorded(attachments: list[Attachment], by: Actor, at: datetime, with_message: str) -> list[Evidence]:
    return [
        Evidence(
            digest=a.digest,
            kind=a.kind,
            caption=a.caption,
            media_type=a.media_type or "",
            size=a.size or 0,
            added_by=by,
            added_at=at,
            with_message=with_message,
        )
        for a in attachments
    ]


def summary(evidence: list[Evidence]) -> str:
    """What each side gave, for support's ticket and the UI: `buyer 2 (photo, photo); seller 1 (document)`."""
    sides: dict[str, list[str]] = {}
    for item in evidence:
        sides.setdefault(item.added_by.party.value, []).append(item.kind.value)
    return "; ".join(f"{party} {len(kinds)} ({', '.join(kinds)})" for party, kinds in sides.items()) or "none"
