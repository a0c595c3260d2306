"""Schemathesis over the live server's /openapi.json (native and CompreFace routes, valid admin
key): no response is a 5xx, and every response matches the schema the app publishes."""
from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from service_server import Server, make_key  # noqa: E402


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    g = str(tmp_path_factory.mktemp("schemathesis") / "g.db")
    key = make_key(g, "admin")
    s = Server([g]).start()
    yield s, key
    s.stop()
    assert "Traceback" not in s.logs(), s.logs()[-3000:]


def test_api_conforms(served):
    """Every operation, a bounded number of generated requests each (schemathesis's pytest plugin
    is not used: the operations are driven directly with Hypothesis)."""
    s, key = served
    schema = schemathesis.openapi.from_url(s.url + "/openapi.json")
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 25
    failures, calls = [], []
    for op in operations:
        @given(case=op.as_strategy())
        @settings(max_examples=8, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.generate])
        def run(case):
            r = case.call_and_validate(base_url=s.url, headers={"x-api-key": key}, timeout=60, checks=checks)
            calls.append(r.status_code)
        try:
            run()
        except Exception as exc:        # collect them all: one report lists every operation that failed
            failures.append(f"{op.method.upper()} {op.path}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
    assert len(calls) >= 5 * len(operations) and max(calls) < 500
