"""Issue 21 (reliability, round 3): the OpenAI-compatible provider under attack by a hostile
server, played by a real HTTP server on 127.0.0.1. Each test performs one attack class."""

import json

import pytest

from star1.engines import parse_engine
from star1.errors import ConfigError
from star1.redact import clear_secrets
from star1.testing.openai_server import OpenAIStubServer, Reply

PASSWORD = "hunter2-correct-horse-battery"


@pytest.fixture
def no_secrets():
    yield
    clear_secrets()


# -- class 9: user:password@ in a base URL --------------------------------------------------

@pytest.mark.parametrize("spec", [
    "openai:m@http://admin:{pw}@127.0.0.1:{port}/v1",
    "openai:m@http://127.0.0.1:{port}/v1,https://admin:{pw}@gpu.example/v1",
    "{{kind: openai, model: m, base_urls: ['http://admin:{pw}@127.0.0.1:{port}/v1']}}",
], ids=["string", "second-url", "yaml-mapping"])
def test_credentials_in_a_base_url_are_refused_without_printing_them(tmp_path, capsys, spec, no_secrets):
    from star1.cli import main

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "p1", "question": "q", "source": "s"}) + "\n")
    run = tmp_path / "run"
    with OpenAIStubServer(lambda body, n: Reply(content="never")) as server:
        engine = spec.format(pw=PASSWORD, port=server.base_url.split(":")[2].split("/")[0])
        code = main(["build", "--in", str(prompts), "--out", str(run), "--set", f"engine={engine}"])
        assert server.count == 0 and server.gets == []  # nothing was sent anywhere
    captured = capsys.readouterr()
    assert code != 0
    assert "holds credentials (user:password@)" in captured.err and "api_key_env" in captured.err
    assert "***@" in captured.err
    assert PASSWORD not in captured.err + captured.out and "hunter2" not in captured.err
    assert not (run / "config.resolved.json").exists()
    written = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())
    assert PASSWORD not in written


def test_the_refusal_holds_for_every_engine_form_and_masks_a_short_password():
    for spec in ("openai:m@http://u:pw@h/v1", {"engine": "openai:m@http://u:pw@h/v1"},
                 {"kind": "openai", "model": "m", "base_urls": ["http://u:pw@h/v1"]}):
        with pytest.raises(ConfigError, match="holds credentials") as raised:
            parse_engine(spec)
        assert "u:pw" not in str(raised.value) and ":pw@" not in str(raised.value)
    assert parse_engine("openai:m@http://h:8000/v1").base_urls == ["http://h:8000/v1"]
