"""/openapi.json tells the truth: clients are generated from it, so every response must be
one it documents (status code, content type, body schema, headers), a request it calls
invalid must be refused, and one it calls valid accepted.

Schemathesis runs every check it has against the real app with auth on: each operation
with generated inputs, then a stateful run that chains operations through the links it
infers (a job's id from POST /jobs into GET /jobs/{job_id}, …), so later calls meet real
jobs, sweeps and datasets instead of 404s. Bounded (``max_examples``) to stay a unit test.

One check is waived for four bodies and one parameter, and only for what JSON Schema
cannot state: "schema-valid data is accepted" fails where validity depends on stored
things, the network or content (a dataset named in a job spec must exist; an
architecture must pass the layer allowlist; an upload must parse as a CSV or NPZ; a
webhook's host must resolve to public addresses; GET /jobs's ``filter`` must parse in
the filter language, a grammar no JSON Schema pattern can hold). The schema states every other rule,
the cross-field ones included (``allOf``/``if`` in JobSpec), and the configured epochs
maximum.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.core.config import Settings

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402
from schemathesis.checks import positive_data_acceptance  # noqa: E402

CONTENT_RULES = {("POST", "/jobs"), ("POST", "/sweeps"), ("POST", "/datasets"), ("POST", "/webhooks")}


@pytest.fixture(params=["auth on", "auth off"])
def api(request, tmp_path) -> Iterator[tuple[Any, str]]:
    from app.main import create_app
    from app.store import tokens as store_tokens

    settings = Settings(
        data_dir=tmp_path / "data",
        max_upload_mb=1,
        max_epochs=100,
        dispatch_seconds=3600,
        auth=request.param == "auth on",
        allowed_hosts="testserver",  # schemathesis calls the app by this name
    )
    app = create_app(settings)
    with app.state.store.session() as session:
        token = store_tokens.create_token(session, owner="ann")
    yield app, token
    app.state.store.dispose()


def loaded(app: Any, token: str) -> Any:
    """The app's schema, with our token as the bearer credentials schemathesis uses (it
    knows them for what they are: its ignored-auth check sends requests without them)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)

    @schema.auth()
    class Bearer:
        def get(self, case: Any, context: Any) -> str:
            return token

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return schema


def waived(method: str, path: str, query: dict[str, Any] | None = None) -> list[Any]:
    grammar = path == "/jobs" and method.upper() == "GET" and "filter" in (query or {})
    return [positive_data_acceptance] if (method.upper(), path) in CONTENT_RULES or grammar else []


def test_every_operation_answers_as_documented(api):
    app, token = api
    schema = loaded(app, token)
    ran, failures = 0, []
    for operation in schema.get_all_operations():
        op = operation.ok()
        if op.path.endswith("/stream"):
            continue  # endless while a job runs; tests/api/test_progress.py covers the streams

        @hypothesis_settings(
            max_examples=20,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy())
        def check(case: Any) -> None:
            nonlocal ran
            ran += 1
            try:
                case.call_and_validate(excluded_checks=waived(case.method, case.operation.path, case.query))
            except BaseException as failure:  # schemathesis reports a group of check failures
                if isinstance(failure, KeyboardInterrupt):
                    raise
                failures.append(f"{case.method} {case.operation.path}: {str(failure)[:600]}")

        check()
    print(f"schemathesis: {ran} requests, {len(failures)} failures")
    assert ran >= 200, ran
    assert failures == [], "\n\n".join(failures[:3])


@pytest.mark.parametrize("api", ["auth on"], indirect=True)
def test_chained_operations_answer_as_documented(api):
    app, token = api
    # The streams stay open while a job runs (these jobs never start): tests/api/test_progress.py.
    # Hypothesis replays a failing chain to shrink it and must see the same answers again:
    # webhooks resolve their host by DNS (answers vary between runs) and a model's name is
    # unique (a replayed POST /models is a 409 where it was a 201), so both stay out of
    # the chains; the test above covers each of their operations, test_registry.py their chains.
    base = loaded(app, token).exclude(path_regex=r"/stream$|^/webhooks|^/models").as_state_machine()
    calls: list[str] = []

    class Machine(base):  # type: ignore[misc,valid-type]
        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            calls.append(f"{case.method} {case.operation.path} {response.status_code}")
            case.validate_response(
                response, excluded_checks=waived(case.method, case.operation.path, case.query)
            )

    Machine.run(
        settings=hypothesis_settings(
            max_examples=80,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    # The chains reached real resources: an operation on a job that POST /jobs created.
    created = [c for c in calls if c.startswith("POST /jobs ") and c.endswith(" 201")]
    chained = [c for c in calls if c.startswith(("GET /jobs/{job_id}", "POST /jobs/{job_id}")) and " 2" in c]
    print(f"stateful: {len(calls)} calls, {len(created)} jobs created, {len(chained)} calls on them")
    assert created and chained, sorted(set(calls))
