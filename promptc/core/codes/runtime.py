"""Diagnostic codes of the provider runtime (see :mod:`promptc.core.codes`): E502–E508, E510–E512.

The exception classes carrying them are in :mod:`promptc.runtime.errors`; docs/providers.md
describes when each is raised. E501 (the engine client) is in the compiler family's table.
"""

from promptc.core.codes.base import Code

RUNTIME_CODES: tuple[Code, ...] = (
    Code("E502", "provider-error", "error", "the provider answered a request with an error",
         "The error names the provider, the HTTP status, the request id and whether a retry could help; "
         "retryable statuses (408, 409, 429, 5xx) were already retried within the request's deadline.",
         "client.complete(request)  # 400 from the provider",
         "read the provider's message; fix the request or the account, or raise the deadline"),
    Code("E503", "provider-key-missing", "error", "no API key for the provider",
         "Keys come from each provider's standard environment variable; nothing is sent without one.",
         "promptc run plan.json --target anthropic/claude-sonnet-4-5  # ANTHROPIC_API_KEY unset",
         "export the provider's key variable (ANTHROPIC_API_KEY, OPENAI_API_KEY, ...)"),
    Code("E504", "retention-unsupported", "error", "a cache retention the model does not support, or an unknown one",
         "Retention is none, short or long (legacy 5m/1h); asking for one the model cannot honour would pay "
         "for writes that expire before they are read.",
         'promptc.Client("openai/gpt-4.1", retention="long")', "pick a retention the model supports"),
    Code("E505", "stream-interrupted", "error", "a stream ended before its final event",
         "A broken stream is never retried (the reply would be duplicated); the partial text is kept on the error.",
         "async for event in client.astream(request): ...  # connection dropped", "retry the request"),
    Code("E506", "provider-unreachable", "error", "the provider could not be reached, or the request's deadline passed",
         "Connection failures and timeouts are retried until the deadline; this error means none succeeded.",
         "ANTHROPIC_BASE_URL=http://127.0.0.1:9 promptc run plan.json --target anthropic/claude-sonnet-4-5",
         "check the base URL and the network, or raise the deadline"),
    Code("E507", "runtime-config", "error", "a target with no adapter, or a bad runtime setting",
         "The runtime checks its configuration ([tool.promptc] runtime settings, targets) before sending anything.",
         'promptc.Client("nosuch/model")', "use a provider/model target the runtime supports"),
    Code("E508", "trace-unreadable", "error", "a cache trace file cannot be read",
         "`promptc trace stats` reads JSON lines written by the runtime's trace; another file is refused.",
         "promptc trace stats README.md", "pass a trace file written with trace=..."),
    Code("E510", "gemini-cache-option", "error", "a bad Gemini cache-object option",
         "`cache_objects={\"gemini\": ...}` takes 'implicit', 'explicit' or a table with mode, ttl_s (seconds, "
         "> 0) and min_tokens (>= 0); anything else is refused before a request is sent.",
         'promptc.Client("gemini/gemini-2.5-flash", cache_objects={"gemini": "always"})',
         "use cache_objects={\"gemini\": \"explicit\"} or {\"gemini\": {\"mode\": \"explicit\", \"ttl_s\": 600}}"),
    Code("E511", "cache-object-request-failed", "error", "the provider refused an on-demand cache-object operation",
         "Refreshing, deleting or listing Gemini cachedContents on demand failed with the provider's status and "
         "message. (Creation on the request path never fails a request: it falls back to implicit caching.)",
         "manager.refresh(key, ttl_s=3600)  # 400 from the provider",
         "read the provider's message; check the key's permissions and the object's name"),
    Code("E512", "cache-object-unknown", "error", "no live cache object for the prefix named",
         "Refresh works on an object the registry knows and the provider still has; an expired or deleted one "
         "is recreated by the next request that needs it instead.",
         "manager.refresh(key)  # the object expired an hour ago",
         "send a request (it recreates the object), then refresh"),
)
