import pytest


@pytest.fixture(autouse=True)
def _own_endpoint_facts(tmp_path, monkeypatch):
    # What an engine learns about a server (endpoints.json under the user cache) must not leak
    # from one test's stub server into the next test's, which may reuse its port.
    monkeypatch.setenv("STAR1_CACHE_DIR", str(tmp_path / "star1-cache"))
