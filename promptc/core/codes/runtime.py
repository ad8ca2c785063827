"""Diagnostic codes of the provider runtime (see :mod:`promptc.core.codes`): E502–E508.

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
)
