"""A parsed job filter (app/filterlang.py) as a SQLAlchemy condition on ``jobs``.

Every value is a bound parameter and every field maps to a column or a JSON path that
this module names; the user's text never reaches the statement. JSON is read with
SQLAlchemy's JSON operators, which render ``->>`` on PostgreSQL and ``JSON_EXTRACT`` on
SQLite, so one filter means the same on both stores."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, true
from sqlalchemy.orm import InstrumentedAttribute

from app.filterlang import And, Compare, Node, Not, Or
from app.store.tables import Job

__all__ = ["condition"]


def condition(node: Node) -> ColumnElement[bool]:
    """The WHERE clause for ``node``; NULL (a field the job lacks) counts as false, so
    ``not X`` is exactly the jobs ``X`` does not match."""
    if isinstance(node, And):
        return and_(*(condition(item) for item in node.items))
    if isinstance(node, Or):
        return or_(*(condition(item) for item in node.items))
    if isinstance(node, Not):
        return not_(func.coalesce(condition(node.item), false()))
    return _compare(node)


def metric(name: str) -> ColumnElement[Any] | InstrumentedAttribute[Any]:
    """A job's final value of metric ``name``: its summary once it succeeded, else its
    last epoch's (running, pruned, cancelled and failed jobs keep one in progress_values)."""
    return func.coalesce(Job.summary[name].as_float(), Job.progress_values[name].as_float())


def _target(compare: Compare) -> ColumnElement[Any] | InstrumentedAttribute[Any]:
    field = compare.field
    if field.kind == "metric":
        return metric(field.name)
    if field.kind == "status":
        return Job.status
    if field.kind == "name":
        return Job.name
    if field.kind == "sweep":
        return Job.sweep_id
    if field.kind == "created":
        return Job.created_at
    if field.kind == "id":
        return Job.id
    element = Job.spec[field.name]
    if field.type == "number":
        return element.as_float()
    if field.type == "boolean":
        return element.as_boolean()
    return element.as_string()


def _compare(compare: Compare) -> ColumnElement[bool]:
    op, value = compare.op, compare.value
    if compare.field.kind == "tag":
        assert isinstance(value, str)
        if op == "~":
            has = func.lower(func.coalesce(Job.tags, "")).contains(value.lower(), autoescape=True)
        else:
            has = func.coalesce(Job.tags, "").contains(f",{value},", autoescape=True)
        return has if op != "!=" else not_(has)
    target = _target(compare)
    if value is None:
        return target.is_(None) if op == "=" else target.is_not(None)
    if op == "~":
        assert isinstance(value, str)
        return func.lower(target).contains(value.lower(), autoescape=True)
    if isinstance(value, bool):
        # SQLite keeps JSON true as 1: compare the extracted value with 1/0 on both
        return (
            target == (true() if value else false())
            if op == "="
            else target != (true() if value else false())
        )
    comparisons = {
        "=": target.__eq__,
        "!=": target.__ne__,
        "<": target.__lt__,
        "<=": target.__le__,
        ">": target.__gt__,
        ">=": target.__ge__,
    }
    return comparisons[op](value)
