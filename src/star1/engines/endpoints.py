"""What star1 knows about each OpenAI-compatible endpoint, learned once and remembered.

For every base URL (and model name) the engine learns, at most once: what ``/v1/models`` lists
(so a misnamed model is noticed, and two servers answering to one name are told apart), which
server it is (the *dialect*: which request fields it takes), which structured-output mode a
run had to step down to (each run tries the configured mode first again), and whether it honours an assistant prefill. The facts live for the life of the engine
and in ``endpoints.json`` under the user cache, so that a rerun neither pays the probes again
nor computes different call-cache keys (a key covers the mode a call was served with).

Call-cache identity (:func:`remote_identity`):

- hosted APIs of known providers (:data:`HOSTED_PROVIDERS`: ``https://`` on an allow-listed
  host name, default port): the model name alone, as before, so replicas and region endpoints
  share one cache and existing paid caches stay valid;
- every other server (self-hosted: ``http://``, localhost, private addresses, and ``https://`` on
  any other host): the model name, *where* it is (each base URL, normalised: scheme, host, port,
  path) and a digest of the stable fields of the ``/v1/models`` entry that answers for it (id,
  owned_by, root, max_model_len, llama.cpp's meta; Ollama's ``created``, which is the model's
  modification time). A server that copies another's ``/v1/models`` listing therefore cannot
  fill the other's cache, and another model behind the same name at the same place
  (``openai:gpt-4o@http://localhost:8080/v1`` serving a 135M GGUF) does not inherit it. A
  server moved to another host or port starts a new cache. vLLM's and llama-server's
  ``created`` is the time of the request, so it is left out. Where ``/v1/models`` never
  answered, the digest is ``unlisted``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

# Structured-output modes, strongest first. "json_object+schema" is llama.cpp's form: it takes
# {"type": "json_object", "schema": ...} and constrains decoding to the schema (classify on the
# bundled 135M model went from 0/10 to 10/10 valid labels with it).
LEVELS = ("json_schema", "json_object+schema", "json_object", "none")
CONFIG_LEVEL = {"json_schema": "json_schema", "json_object": "json_object+schema", "none": "none"}
DIALECTS = ("openai", "vllm", "sglang", "llamacpp", "ollama")
_STABLE_FIELDS = ("id", "owned_by", "root", "parent", "max_model_len", "meta")


@dataclass
class EndpointFacts:
    base_url: str
    model: str
    listed: bool = False  # /v1/models answered with a model list
    served: list[str] = field(default_factory=list)  # the model ids it lists
    fingerprint: str | None = None  # digest of the entry that answers for ``model``
    dialect: str = "openai"  # detected from the listing (see detect_dialect)
    context_window: int | None = None  # max_model_len where the server says it
    structured: str = "json_schema"  # the weakest mode a run stepped down to (calls are cached under it)
    prefill: str | None = None  # "honoured" | "ignored" | None (not probed yet)
    reasoning: str | None = None  # "native" | "none" | None (not probed yet): does the model think by itself
    prefill_evidence: str = ""  # the probe's reply, quoted in messages
    completions_prefill: str | None = None  # the tokenizer with which /v1/completions passed the probe
    checked: float = 0.0  # when /v1/models last answered (unix time)

    @staticmethod
    def from_dict(data: dict) -> EndpointFacts | None:
        known = {k: data[k] for k in EndpointFacts.__dataclass_fields__ if k in data}
        try:
            facts = EndpointFacts(**known)
        except TypeError:
            return None
        if facts.structured not in LEVELS or facts.dialect not in DIALECTS:
            return None
        return facts


# Known hosted providers, by the host name of their OpenAI-compatible API. Their replicas and
# region endpoints answer as one model, and they are trusted to serve what the name says: calls
# are cached under the model name alone (as before). Any other https host counts as self-hosted,
# so a look-alike host cannot fill (or read) their cache.
HOSTED_PROVIDERS = {
    "api.openai.com": "OpenAI",
    "eu.api.openai.com": "OpenAI (EU data residency)",
    "api.deepseek.com": "DeepSeek",
    "integrate.api.nvidia.com": "NVIDIA",
    "api.together.xyz": "Together AI",
    "api.fireworks.ai": "Fireworks AI",
    "api.groq.com": "Groq",
    "api.mistral.ai": "Mistral AI",
    "openrouter.ai": "OpenRouter",
    "generativelanguage.googleapis.com": "Google (Gemini)",
}


def is_hosted(url: str) -> bool:
    """True for ``https://`` on a known provider's API host (:data:`HOSTED_PROVIDERS`) at the
    default port; False for everything else, which is treated as self-hosted."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return False
    return (parts.scheme == "https" and (parts.hostname or "").lower() in HOSTED_PROVIDERS
            and port in (None, 443))


def is_loopback(url: str) -> bool:
    """The server is on this machine: ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    import ipaddress

    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def location(url: str) -> str:
    """Where a server is: its base URL with the host in lower case, the port written out and no
    trailing slash (``http://LocalHost/v1/`` and ``http://localhost:80/v1`` are one place)."""
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}:{parts.port or default}{parts.path.rstrip('/')}"


def entry_for(entries: list[dict], model: str) -> list[dict]:
    """The listing entries that answer for ``model``: its own entry; else the only one (llama.cpp
    serves one model under any name); else all of them."""
    named = [e for e in entries if e.get("id") == model]
    return named or entries


def fingerprint(entries: list[dict], dialect: str) -> str:
    fields = _STABLE_FIELDS + (("created",) if dialect == "ollama" else ())
    stable = [{k: e[k] for k in fields if k in e} for e in entries]
    blob = json.dumps(sorted(stable, key=lambda e: json.dumps(e, sort_keys=True)), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def detect_dialect(base_url: str, entries: list[dict]) -> str:
    """Which server this is, from what it says about itself in /v1/models.

    vLLM, SGLang and llama-server write their own name into ``owned_by`` (their sources:
    ``owned_by: str = "vllm"`` / ``"sglang"``, llama-server ``"llamacpp"``); llama-cpp-python
    writes ``"me"`` and lists the GGUF path (or its ``--model_alias``) as the id (verified); Ollama lists the model's
    namespace (``"library"``) and listens on 11434 by default. Anything else is spoken to in
    plain OpenAI fields."""
    owners = {str(e.get("owned_by", "")).lower() for e in entries}
    for name in ("vllm", "sglang"):
        if name in owners:
            return name
    if "llamacpp" in owners or any(_llama_cpp_python(e) for e in entries):
        return "llamacpp"
    if "library" in owners or "ollama" in owners or urlsplit(base_url).port == 11434:
        return "ollama"
    return "openai"


def _llama_cpp_python(entry: dict) -> bool:
    """llama-cpp-python's listing entry: ``owned_by: "me"`` with the GGUF path as the id, or,
    started with ``--model_alias``, the alias and the ``permissions`` list its entries carry
    (its server's source: ``{"id": model_alias, "object": "model", "owned_by": "me",
    "permissions": []}``)."""
    return entry.get("owned_by") == "me" and (str(entry.get("id", "")).endswith(".gguf")
                                              or isinstance(entry.get("permissions"), list))


def context_window(entries: list[dict]) -> int | None:
    for entry in entries:
        value = entry.get("max_model_len")
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def learn_listing(facts: EndpointFacts, payload) -> bool:
    """Update ``facts`` from a /v1/models reply body; False when it is not a model list."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        return False
    entries = [e for e in data if isinstance(e, dict) and isinstance(e.get("id"), str)]
    dialect = detect_dialect(facts.base_url, entries)
    answering = entry_for(entries, facts.model)
    new_fingerprint = fingerprint(answering, dialect)
    if facts.fingerprint and facts.fingerprint != new_fingerprint:
        # Another model (or server) now answers here: what was learned about the old one is void.
        facts.structured, facts.prefill, facts.prefill_evidence = "json_schema", None, ""
        facts.completions_prefill = None
    facts.listed, facts.served = True, [e["id"] for e in entries]
    facts.fingerprint, facts.dialect = new_fingerprint, dialect
    facts.context_window = context_window(answering)
    facts.checked = time.time()
    return True


def remote_identity(config, facts: dict[str, EndpointFacts] | None = None) -> str:
    """The call-cache identity of an openai engine (see the module docstring)."""
    base = f"openai:{config.model}"
    if all(is_hosted(url) for url in config.base_urls):
        return base
    if facts is None:
        facts = {url.rstrip("/"): store().get(url.rstrip("/"), config.model) for url in config.base_urls}
    parts = set()
    for url in config.base_urls:
        known = facts.get(url.rstrip("/"))
        parts.add(f"{location(url)}#{known.fingerprint if known and known.fingerprint else 'unlisted'}")
    return f"{base}@{','.join(sorted(parts))}"


class EndpointStore:
    """``endpoints.json``: facts per ``base_url|model``. A file that cannot be read is ignored
    (the facts are learned again); one that cannot be written costs a probe on the next run."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._data: dict[str, dict] | None = None

    def _load(self) -> dict[str, dict]:
        if self._data is None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                data = {}
            except (OSError, ValueError, RecursionError) as exc:
                log.warning("ignoring %s (%s); server facts will be probed again", self.path, exc)
                data = {}
            self._data = data if isinstance(data, dict) else {}
        return self._data

    def get(self, base_url: str, model: str) -> EndpointFacts | None:
        with self._lock:
            data = self._load().get(f"{base_url}|{model}")
        return EndpointFacts.from_dict(data) if isinstance(data, dict) else None

    def put(self, facts: EndpointFacts) -> None:
        from star1.io import write_json_atomic

        with self._lock:
            self._data = None  # re-read: another process may have added its own endpoints
            data = self._load()
            data[f"{facts.base_url}|{facts.model}"] = asdict(facts)
            try:
                write_json_atomic(self.path, data)
            except OSError as exc:
                log.warning("could not save server facts to %s (%s); they will be probed again", self.path, exc)


_stores: dict[Path, EndpointStore] = {}


def store() -> EndpointStore:
    """The store under the user cache (``STAR1_CACHE_DIR``, else ``~/.cache/star1``)."""
    from star1.paths import cache_dir

    path = cache_dir() / "endpoints.json"
    if path not in _stores:
        _stores[path] = EndpointStore(path)
    return _stores[path]
