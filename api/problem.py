"""Every error the API answers: an RFC 9457 problem that names the field and the rule."""

from __future__ import annotations

from fastapi.responses import JSONResponse


class Problem(Exception):
    """An RFC 9457 problem: its status, a title, and where it applies the field and the rule."""

    def __init__(self, status: int, title: str, field: str | None = None, rule: str | None = None):
        self.status, self.title, self.field, self.rule = status, title, field, rule
        super().__init__(title)

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        body = {"type": "about:blank", "title": self.title, "status": self.status}
        if self.field is not None:
            body |= {"field": self.field, "rule": self.rule, "detail": f"{self.field}: {self.rule}"}
        return JSONResponse(body, status_code=self.status, media_type="application/problem+json", headers=headers)
