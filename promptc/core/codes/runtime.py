"""Diagnostic codes of the provider runtime (see :mod:`promptc.core.codes`): E502–E508, and E540–E544
for ``promptc simulate``'s workloads (raised as :class:`promptc.runtime.simulate.WorkloadError`).

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
    Code("E540", "workload-unreadable", "error", "a workload file cannot be read or parsed",
         "`promptc simulate --workload` reads JSON, TOML or YAML (YAML needs PyYAML); the error gives the file, "
         "line and column of the syntax error.",
         "promptc simulate examples/team -t anthropic/claude-sonnet-4-5 --workload day.toml  # a stray comma",
         "fix the syntax at the location given, or name the file .json, .toml or .yaml"),
    Code("E541", "workload-field", "error", "a workload field is missing, unknown or of the wrong type",
         "A workload has `plans`, `session`, `turns` and `name`; each turn has `plan`, `inputs` and `at` or "
         "`after`. The error names the field path (`turns[3].inputs`); inputs a plan rejects are reported here "
         "too, as are plans whose inputs the built-in working day cannot fill.",
         'turns = [{plan = "backend", inputs = "Why 500?"}]  # inputs must be a table',
         "write the field as the format in docs/providers.md describes"),
    Code("E542", "workload-plan", "error", "a workload names a plan it does not provide",
         "Every turn and session names one of the workload's plans (from its `plans` paths, or the PATHS on the "
         "command line); a plans path must exist, and sources need `promptc simulate`, which compiles them.",
         'turns = [{plan = "qa", after = "1m"}]  # the team example has no plan qa',
         "name a plan the workload provides, or add its project to `plans`"),
    Code("E543", "workload-time", "error", "a turn's time is malformed or goes back in time",
         "Turns are in time order: `at` is a time of day (HH:MM[:SS]) or seconds from the start, `after` a number "
         "of seconds or a duration (\"90s\", \"5m\", \"1h\"); a turn after the first needs one of them.",
         'turns = [{plan = "backend", at = "10:00"}, {plan = "docs", at = "09:00"}]',
         "list the turns in time order, with at or after on each"),
    Code("E544", "trace-workload", "error", "a cache trace yields no workload to replay",
         "`promptc simulate --from-trace` replays the successful requests of a trace written with "
         "Client(trace=...); it needs at least one, the plans they name, and plans whose inputs it can synthesize "
         "(string turn inputs, no session inputs).",
         "promptc simulate examples/support -t openai/gpt-5.6 --from-trace team-trace.jsonl",
         "pass the plans the trace was recorded with, or write a workload file"),
)
