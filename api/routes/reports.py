"""Reports for support: the KPIs of the seeds over a window of days."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.encoders import jsonable_encoder

from api.auth import Role
from api.dependencies import CallerDep, ServiceDep, allow
from store import queries

router = APIRouter()


@router.get("/v1/reports/kpi", tags=["reads"])
async def kpi_report(caller: CallerDep, service: ServiceDep, days: Annotated[int, Query(ge=1, le=366)] = 30) -> dict[str, Any]:
    """Resolution rate, time to resolve, reasons, issue rate per seller, sellers past their deadlines."""
    allow(caller, Role.SUPPORT_CONSOLE)
    now = datetime.now(UTC)
    return jsonable_encoder(queries.report(service.store, now - timedelta(days=days), now, now).as_dict())
