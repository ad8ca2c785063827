"""Diagnostic codes of the provider runtime (see :mod:`promptc.core.codes`): E502–E509, E524, W509 and W510 (the client),
E510–E512 (Gemini cache objects), E515–E519 (Kimi/Moonshot context caches), E520–E523 (Bedrock,
OpenRouter), E529 (a framework integration's extra), E530–E533 (the cache registry, warm, keep-warm) and E540–E544 (``promptc simulate``'s
workloads, raised as :class:`promptc.runtime.simulate.WorkloadError`).

The exception classes carrying them are in :mod:`promptc.runtime.errors` and the modules named in
each entry; docs/providers.md describes when each is raised. E501 (the engine client) is in the
compiler family's table.
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
    Code("E507", "no-runtime-adapter", "error", "a target whose provider has no runtime adapter",
         "The runtime knows a fixed set of providers (docs/providers.md); a target naming another one is refused "
         "before anything is sent.",
         'promptc.Client("nosuch/model")', "use a provider/model target the runtime supports"),
    Code("E526", "target-malformed", "error", "a target that is not provider/model",
         "Targets name the provider and the model, separated by a slash.",
         'promptc.Client("claude-sonnet-4-5")', "write the provider first: anthropic/claude-sonnet-4-5"),
    Code("E527", "base-url-invalid", "error", "a provider base URL that is not an http(s) URL",
         "The base URL comes from the argument, the provider's environment variable or [tool.promptc.providers.<p>] "
         "base_url; nothing is sent to anything else.",
         "ANTHROPIC_BASE_URL=localhost:8080 promptc run plan.json --target anthropic/claude-sonnet-4-5",
         "write the scheme: http://localhost:8080"),
    Code("E528", "runtime-setting-invalid", "error", "a runtime setting in [tool.promptc] is of the wrong type or value",
         "Runtime tables (providers, prices, plans, cache_limits) and their keys are checked before anything is "
         "sent; the error names the key.",
         '[tool.promptc.providers.openai]\ncache_key_scope = "tenant"',
         "use a value the key accepts (docs/providers.md lists them)"),
    Code("E529", "integration-extra-missing", "error", "a framework integration's package is not installed",
         "The framework integrations (promptc.integrations: LangChain, pydantic-ai, the OpenAI Agents SDK) import "
         "their framework only when used; each framework is an optional extra, named in the error.",
         "to_langchain(request, \"anthropic/claude-sonnet-4-5\")  # langchain-core not installed",
         "pip install 'promptc[langchain]' (or the extra the error names: pydantic-ai, openai-agents)"),
    Code("E508", "trace-unreadable", "error", "a cache trace file cannot be read",
         "`promptc trace stats` reads JSON lines written by the runtime's trace; another file is refused.",
         "promptc trace stats README.md", "pass a trace file written with trace=..."),
    Code("E509", "provider-response-unusable", "error", "a provider's answer is not a usable reply",
         "A 2xx answer must be the provider's JSON reply: a body that is not JSON, JSON nested too deeply, `null`, "
         "`{}`, a list or an object of another shape, and any redirect (never followed), are refused with the "
         "status and the request id, and traced like other errors.",
         "client.complete(request)  # a proxy answered 200 with an HTML login page",
         "check the base URL (a proxy or captive portal answers in the provider's place)"),
    Code("W509", "unpriced-model", "warning", "no price source knows the target's model",
         "Prices come from genai-prices (and [tool.promptc.prices] overrides); a model neither knows has no cost "
         "(None) rather than another model's price.",
         'promptc.Client("openai/gpt-9")  # not in genai-prices',
         'add its price: [tool.promptc.prices."openai/gpt-9"] input = 2.5, output = 10.0, read = 0.1'),
    Code("W510", "cache-collapse", "warning", "a plan's cache read fell below a fraction of its established prefix",
         "The trace's collapse monitor keeps, per plan and target, the largest cache read the provider has served "
         "(the established prefix); a later successful reply reading less than cacheCollapseFraction (default 0.5) "
         "of it is recorded as `collapse` in the trace, counted by `promptc trace stats`, and warned about "
         "(a CacheCollapseWarning per collapsed request).",
         "promptc.Client(target, trace=\"cache-trace.jsonl\")  # reads 4,000 tokens, then 300",
         "read the record's `invalidation` (and the provider's verdict): fix a changing prefix, raise the "
         "retention, or set tool.promptc.cacheCollapseFraction"),
    Code("E524", "provider-response-too-large", "error", "a provider's answer is larger than the client reads",
         "Bodies are bounded on the wire and once decompressed (a gzip bomb stops at the bound), and a stream line "
         "is bounded too, so a broken or hostile endpoint cannot exhaust memory.",
         "client.complete(request)  # a 1 GiB body, or 2 MB of gzip that inflates to 6 GB",
         "check the base URL; raise the limits with Client(bounds=Bounds(...)) only for a trusted endpoint"),
    Code("E525", "pyproject-unreadable", "error", "the nearest pyproject.toml cannot be read as promptc's configuration",
         "Every command (build, lint, run, simulate) reads [tool.promptc] through one reader; a file that is not UTF-8, "
         "not valid TOML, or whose `tool` / `tool.promptc` is not a table is refused with its line and column, "
         "never read as defaults.",
         'promptc build .  # pyproject.toml has `[tool.promptc` (no closing bracket)',
         "fix the file at the line and column given"),
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
    Code("E530", "cache-registry-unusable", "error", "the cache registry cannot be opened, or a registry setting is invalid",
         "The registry of remote cache objects is an SQLite file shared by the processes of a machine; a file that is "
         "not a registry (or was written by a newer promptc) is refused rather than overwritten.",
         "CacheRegistry(SQLiteBackend(\"README.md\"))",
         "pass another file, or delete the broken one (the next start reconciles with the provider)"),
    Code("E531", "cache-creation-wait", "error", "another process held the creation of a cache object for too long",
         "Only one process creates a given cache object; the others wait for it, at most `wait_s` seconds, and a "
         "crashed creator's lease expires after `lease_s`.",
         "registry.acquire(key, create)  # another process still holds the lease",
         "check the process creating the object, or raise lease_s / wait_s"),
    Code("E532", "nothing-to-warm", "error", "none of the plans given to `promptc warm` starts with a static segment",
         "Only a static prefix (content known at build time) can be cached before the first request.",
         "promptc warm turn_only.plan.json --target anthropic/claude-sonnet-4-5  # starts with a session segment",
         "warm plans that start with static segments"),
    Code("E533", "keepwarm-policy", "error", "a keep-warm setting is out of range",
         "Keep-warm refreshes a prefix only when its expected saving beats the refresh cost; its knobs (lead, window, "
         "min_samples, margin, ttl_s) must be positive.",
         "KeepWarmPolicy(margin=0)", "use values in range (docs/providers.md, Cache objects, pre-warm and keep-warm)"),
    Code("E515", "context-cache-family", "error", "a Moonshot context cache was asked for a model with no cache family",
         "Moonshot's legacy context caches (POST /v1/caching) are created for a model family: moonshot-v1-8k, -32k "
         "and -128k map to moonshot-v1; Kimi K2/K3 and vision models have none (they cache automatically).",
         'promptc.Client("moonshot/kimi-k3", cache_objects={"context_cache": True})',
         "use a moonshot-v1-* model, or drop the context_cache option (Kimi models cache automatically)"),
    Code("E516", "context-cache-option", "error", "an invalid Moonshot context-cache option",
         "The cache_objects options of a moonshot client are checked before anything is sent: known keys only, "
         "a ttl of 1 to 3600 seconds, a use mode of message or header.",
         'promptc.Client("moonshot/moonshot-v1-32k", cache_objects={"context_cache": True, "ttl": 7200})',
         "see docs/providers.md, \"Kimi / Moonshot\", for the options and their ranges"),
    Code("E517", "context-cache-create-failed", "error", "Moonshot refused to create a context cache",
         "An explicit create (warming a prefix) reports the provider's answer; during requests the same failure "
         "only sends the prompt uncached and records a fallback event in the cache trace.",
         "manager.ensure(request)  # POST /v1/caching answered 400, or the cache ended in status error",
         "read the provider's message; check the account's access to context caching"),
    Code("E518", "context-cache-limit", "error", "a Moonshot context cache would exceed a token limit",
         "A context cache holds at most 128k tokens and one user at most 1M tokens of live caches; promptc never "
         "creates beyond them (it evicts its own oldest caches first, or falls back to uncached requests).",
         "manager.ensure(request)  # 1M tokens of caches already live",
         "delete unused caches, shorten the static prefix, or set on_limit to evict"),
    Code("E519", "context-cache-no-prefix", "error", "a plan has no static prefix a Moonshot context cache can hold",
         "A context cache holds the plan's leading static messages and all of its tools (requests that use it send "
         "no tools); a plan that starts with a session or turn segment, or has a non-static tools segment, has none.",
         "manager.ensure(request)  # the plan's tools segment is @session",
         "put the static segments and the tools first, or warm this plan without a context cache"),
    Code("E520", "bedrock-extra-missing", "error", "a bedrock target needs botocore, which is not installed",
         "Bedrock requests are signed with AWS Signature V4 through botocore's own signer; it is an optional "
         "dependency, so building a payload works without it but sending one does not.",
         'promptc.Client("bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0").complete(request)',
         "pip install 'promptc[bedrock]'"),
    Code("E521", "aws-credentials-missing", "error", "no AWS credentials for a bedrock target",
         "Credentials come from botocore's chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and "
         "AWS_SESSION_TOKEN), a profile, or a role; none of them gave any, or a configured source failed.",
         "AWS_PROFILE=missing promptc run plan.json --target bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0",
         "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or fix the profile"),
    Code("E522", "eventstream-corrupt", "error", "a Bedrock event stream frame is truncated or fails its checksum",
         "ConverseStream answers in AWS's binary event-stream framing; each frame carries CRC32 checksums, and a "
         "frame that fails them is never turned into text.",
         "for event in client.stream(request): ...  # a proxy rewrote the binary stream",
         "retry the request; check that nothing between you and Bedrock re-encodes the response"),
    Code("E523", "openrouter-model-vendor", "error", "an OpenRouter target whose model does not name its vendor",
         "OpenRouter models are <vendor>/<model>; the vendor decides how caching is asked for (Anthropic and "
         "Alibaba markers, Gemini's single marker, OpenAI breakpoints).",
         'promptc.Client("openrouter/claude-sonnet-4.5")',
         "use openrouter/<vendor>/<model>, e.g. openrouter/anthropic/claude-sonnet-4.5"),
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
