"""A gang's ranks in the store: each rank joins the attempt its chief claimed, says where
its collective server listens and beats while it trains; every rank reads the others'
rows to build the same ``TF_CONFIG`` and to notice a rank that has gone."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.store._shared import rows_changed
from app.store.tables import Attempt, GangRank, utcnow

__all__ = ["beat", "join", "members", "record_ranks"]


def join(
    session: Session, *, job_id: str, rank: int, attempt: int, hostname: str, device: str, address: str
) -> bool:
    """Rank ``rank`` joins ``attempt``; False if the gang has no such rank (re-dispatched)."""
    return bool(
        rows_changed(
            session,
            update(GangRank)
            .where(GangRank.job_id == job_id, GangRank.rank == rank)
            .values(attempt=attempt, hostname=hostname, device=device, address=address, last_seen=utcnow()),
        )
    )


def beat(session: Session, *, job_id: str, rank: int, attempt: int) -> bool:
    """The rank is still training ``attempt``; False if its row moved on without it."""
    return bool(
        rows_changed(
            session,
            update(GangRank)
            .where(GangRank.job_id == job_id, GangRank.rank == rank, GangRank.attempt == attempt)
            .values(last_seen=utcnow()),
        )
    )


def members(session: Session, *, job_id: str) -> list[GangRank]:
    """Every rank's row, in rank order."""
    return list(session.scalars(select(GangRank).where(GangRank.job_id == job_id).order_by(GangRank.rank)))


def record_ranks(session: Session, *, job_id: str, attempt: int, ranks: list[dict[str, Any]]) -> None:
    """Who trained the attempt: ``[{"rank", "hostname", "device"}, …]`` (GET /jobs/{id})."""
    session.execute(
        update(Attempt).where(Attempt.job_id == job_id, Attempt.number == attempt).values(ranks=ranks)
    )
