"""Provider runtime benchmark: start-up cost, per-request adapter overhead, and a multi-turn session's
cache accounting on the provider simulator.

Run:  python bench/providers.py [--out bench/results/providers.json] [--peer-python PATH]

LiteLLM pins ``openai<3`` (promptc's tests use openai 3.x), so keep it in its own virtual
environment and pass that interpreter as ``--peer-python``; without LiteLLM the peer is skipped.

* start-up: ``import promptc`` + ``promptc.Client(...)`` in a fresh interpreter, median of 5, against
  ``import litellm`` (the peer; skipped when it is not installed), median of 3. Goal ≤ 0.1×.
* adapter overhead: the CPU work promptc adds per request — ``Client.build`` (layout,
  breakpoints, payload) + ``Adapter.parse`` (usage normalization) + cost — for a team-example
  request, Anthropic and OpenAI, median of 2,000 after warm-up. Goal ≤ 1 ms. For context, the whole
  client round trip against a raw ``httpx`` POST of the same payload to ``promptc sim serve``
  running in another process (so the two do not share a GIL), median of 300.
* session: the support example (static policy, session profile, growing history) for 8 turns on
  ``anthropic/claude-sonnet-4-5`` and ``openai/gpt-5.6`` in the simulator, with the real minimums:
  per turn uncached / cache-read / cache-write tokens and cost, against the same turns uncached.
* day: ``promptc simulate``'s built-in working day (the team example's three agents, 240 turns,
  09:00-16:43 with breaks, meetings and lunch) on every provider the simulator serves — Anthropic,
  OpenAI gpt-5.6 (explicit breakpoints), OpenAI before 5.6 (automatic) and one target per other
  provider in ``ADAPTERS`` (a provider without an adapter or a simulator route is skipped with a
  note): cost with promptc's placement vs the provider's naive default vs the theoretical best,
  and the share of the best's savings each reaches (goal: >= 98% on Anthropic's rules). The team
  example's prefixes (~450 tokens) are below every real minimum, so the day runs with the minimum
  lowered to 256 tokens (``promptc simulate --min-tokens 256``). ``--only-day`` runs just this part
  and keeps the other parts of the JSON record.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

import promptc  # noqa: E402
from promptc.core.prices import price_for  # noqa: E402
from promptc.runtime.client import Client  # noqa: E402
from promptc.runtime.config import RuntimeConfig  # noqa: E402
from promptc.runtime.sim import Simulator  # noqa: E402

STARTUP = ("import time; t = time.perf_counter(); import promptc; "
           "promptc.Client('anthropic/claude-sonnet-4-5', api_key='k'); print(time.perf_counter() - t)")
PEER = "import time; t = time.perf_counter(); import litellm; print(time.perf_counter() - t)"


def fresh(code: str, n: int, python: str = sys.executable) -> float | None:
    runs = []
    for _ in range(n):
        r = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd="/tmp",
                           env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": "/tmp"})
        if r.returncode != 0:
            return None
        runs.append(float(r.stdout.strip().splitlines()[-1]))
    return statistics.median(runs)


def per_call(fn, n: int) -> float:
    for _ in range(50):
        fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


TURNS = [
    "My invoice for October is twice the usual amount. Can you explain the charges line by line?",
    "I see a line called 'burst compute'. What is that, and why was it billed this month?",
    "We did run a load test on the 14th. Does that explain all of it or only part?",
    "Can you show me how burst compute is priced on the pro plan, with an example?",
    "Is there a way to cap burst compute so that this does not happen again?",
    "Please open a ticket to review the charge; I think part of it should be credited.",
    "While the ticket is open, will my service be affected in any way?",
    "Thanks. Summarize what we agreed and what happens next, in three bullet points.",
]


def session_run(sim: Simulator, target: str, support) -> dict:
    client = Client(target, base_url=sim.url + ("/v1" if target.startswith("openai/") else ""), api_key="sim",
                    retention="short", config=RuntimeConfig())
    session = support.bind(customer={"name": "Ada Lovelace", "plan": "pro", "open_tickets": 1})
    history: list[dict] = []
    rows = []
    price = price_for(target)
    for q in TURNS:
        reply = client.complete(session.render(question=q, history=history), max_tokens=300)
        u = reply.usage
        uncached_cost = (u.prompt * price.input + u.output * price.output) / 1e6
        rows.append({"uncached": u.uncached, "cache_read": u.cache_read, "cache_write": u.cache_write_total,
                     "output": u.output, "cost": reply.cost, "cost_without_cache": uncached_cost,
                     "breakpoints": [m.segment for m in reply.breakpoints]})
        # a long answer grows the history as a real support conversation would
        history += [{"role": "user", "content": q},
                    {"role": "assistant", "content": (reply.text + " ") * 40}]
    client.close()
    tot = {k: sum(r[k] for r in rows) for k in ("uncached", "cache_read", "cache_write", "output", "cost",
                                                 "cost_without_cache")}
    return {"turns": rows, "total": tot}


#: One target per provider for the simulated day (model names follow each provider's naming); a
#: provider in ADAPTERS without a row here is reported as skipped.
DAY_TARGETS: dict[str, tuple[str, ...]] = {
    "anthropic": ("anthropic/claude-sonnet-4-5",),
    "openai": ("openai/gpt-5.6", "openai/gpt-5.4"),
    "bedrock": ("bedrock/claude-sonnet-4-5",),
    "gemini": ("gemini/gemini-2.5-flash",),
    "moonshot": ("moonshot/kimi-k2.5",),  # K3 reports no write counter: its cost is unknown
    "deepseek": ("deepseek/deepseek-chat",),
    "openrouter": ("openrouter/anthropic/claude-sonnet-4.5",),
    "vllm": ("vllm/qwen3-8b",),
    "sglang": ("sglang/qwen3-8b",),
}
DAY_MIN_TOKENS = 256


def day_run(team) -> dict:
    """The simulated working day per provider: promptc's placement vs the naive default vs the best."""
    from promptc.core.errors import PromptcError
    from promptc.runtime.providers import ADAPTERS
    from promptc.runtime.simulate import simulate, working_day

    import os

    from promptc.runtime.sim.bedrock_api import SIM_AWS_CREDENTIALS

    # Bedrock signs with botocore's credential chain: give it the simulator's key pair
    ((key_id, secret),) = SIM_AWS_CREDENTIALS.items()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", key_id)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", secret)
    workload = working_day(team.plans)
    providers = sorted({k.split(":")[0] for k in ADAPTERS} - {"engine"} | set(DAY_TARGETS))
    rows, skipped = [], []
    for provider in providers:
        if provider not in {k.split(":")[0] for k in ADAPTERS}:
            skipped.append(f"{provider}: no adapter registered in ADAPTERS")
            continue
        if provider not in DAY_TARGETS:
            skipped.append(f"{provider}: no target in bench DAY_TARGETS")
            continue
        for target in DAY_TARGETS[provider]:
            try:
                (res,) = simulate(workload, [target], min_tokens=DAY_MIN_TOKENS, config=RuntimeConfig())
            except PromptcError as exc:
                skipped.append(f"{target}: {str(exc).splitlines()[0]}")
                continue
            except Exception as exc:  # a provider's simulator model that fails: report it, keep the others
                skipped.append(f"{target}: {type(exc).__name__}: {exc}")
                continue
            rows.append(res.to_json())
    return {"workload": {"name": workload.name, "turns": len(workload.turns), "duration_s": workload.duration_s},
            "min_tokens": DAY_MIN_TOKENS, "targets": rows, "skipped": skipped}


def print_day(day: dict) -> None:
    w = day["workload"]
    print(f"\nsimulated working day: {w['turns']} turns of the team example over {w['duration_s'] / 3600:.1f} h, "
          f"minimum lowered to {day['min_tokens']} tokens")
    print(f"{'target':<40} {'no cache $':>10} {'naive $':>10} {'promptc $':>10} {'best $':>10} "
          f"{'naive/best':>10} {'promptc/best':>12} {'hit rate':>8}")
    for r in day["targets"]:
        s = r["strategies"]

        def money(k):
            return "unknown" if s[k]["cost"] is None else f"{s[k]['cost']:.4f}"

        def share(k):
            v = s[k]["share_of_best_savings"]
            return "-" if v is None else f"{v:.1%}"

        print(f"{r['target']:<40} {money('none'):>10} {money('naive'):>10} {money('promptc'):>10} {money('best'):>10} "
              f"{share('naive'):>10} {share('promptc'):>12} {s['promptc']['hit_rate']:>8.1%}")
    anth = [r for r in day["targets"] if r["target"].startswith("anthropic/")]
    for r in anth:
        v = r["strategies"]["promptc"]["share_of_best_savings"]
        verdict = "NOT met (the best saves nothing)" if v is None else f"{'met' if v >= 0.98 else 'NOT met'} ({v:.1%})"
        print(f"goal: promptc >= 98% of the best savings on {r['target']}: {verdict}")
    for note in day["skipped"]:
        print(f"skipped {note}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "providers.json"))
    ap.add_argument("--peer-python", default=sys.executable, help="interpreter with litellm installed")
    ap.add_argument("--only-day", action="store_true", help="run only the simulated day; keep the rest of --out")
    args = ap.parse_args()
    if args.only_day:
        team = promptc.compile(REPO / "examples" / "team")
        out = Path(args.out)
        result = json.loads(out.read_text()) if out.exists() else {}
        result["day"] = day_run(team)
        print_day(result["day"])
        out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        print(f"\nwrote {args.out}")
        return
    team = promptc.compile(REPO / "examples" / "team")
    support = promptc.compile(REPO / "examples" / "support")["support"]
    req = team["backend"].bind().render(file="api/users.py", query="Why does GET /users return 500?")

    startup = fresh(STARTUP, 5)
    peer = fresh(PEER, 3, args.peer_python)
    result: dict = {"machine": platform.platform(), "python": platform.python_version(),
                    "startup_s": startup, "litellm_import_s": peer,
                    "startup_ratio": (startup / peer) if (startup and peer) else None}

    with Simulator() as sim:  # one real response body per API to parse
        for target in ("anthropic/claude-sonnet-4-5", "openai/gpt-5.6"):
            c = Client(target, base_url=sim.url + ("/v1" if target.startswith("openai/") else ""), api_key="k",
                       config=RuntimeConfig())
            body = c.complete(req).raw

            def work(c=c, body=body):
                call = c.build(req)
                done = c.adapter.parse(body, call)
                return c._reply(done, call, 0.0, 1, None)

            result[f"adapter_overhead_ms[{target}]"] = per_call(work, 2000) * 1e3
            c.close()

    port = 8791
    server = subprocess.Popen([sys.executable, "-m", "promptc.cli", "sim", "serve", "--port", str(port)],
                              env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": "/tmp"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                httpx.get(url + "/_sim/requests")
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        c = Client("anthropic/claude-sonnet-4-5", base_url=url, api_key="k", config=RuntimeConfig())
        payload = c.build(req).payload
        raw = httpx.Client()
        headers = {"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"}
        result["roundtrip_ms[client]"] = per_call(lambda: c.complete(req), 300) * 1e3
        result["roundtrip_ms[raw httpx]"] = per_call(lambda: raw.post(url + "/v1/messages", json=payload,
                                                                      headers=headers), 300) * 1e3
        raw.close()
        c.close()
    finally:
        server.terminate()
        server.wait(timeout=10)

    with Simulator() as sim:
        result["session"] = {t: session_run(sim, t, support) for t in ("anthropic/claude-sonnet-4-5", "openai/gpt-5.6")}
    result["day"] = day_run(team)

    print(f"{'measure':<44} {'value':>12}")
    s, p = result["startup_s"], result["litellm_import_s"]
    print(f"{'import promptc + Client() [s]':<44} {s:>12.3f}")
    print(f"{'import litellm [s]':<44} {p if p is not None else float('nan'):>12.3f}")
    if result["startup_ratio"] is not None:
        print(f"{'ratio (goal <= 0.1)':<44} {result['startup_ratio']:>12.3f}")
    for k, v in result.items():
        if k.startswith(("adapter_overhead_ms", "roundtrip_ms")):
            print(f"{k:<44} {v:>12.3f}")
    for target, sess in result["session"].items():
        print(f"\n{target}: {'turn':>4} {'uncached':>9} {'read':>7} {'write':>7} {'output':>7} {'cost $':>10} "
              f"{'no cache $':>10}  breakpoints")
        for i, r in enumerate(sess["turns"], 1):
            print(f"{'':<{len(target)}}  {i:>4} {r['uncached']:>9} {r['cache_read']:>7} {r['cache_write']:>7} "
                  f"{r['output']:>7} {r['cost']:>10.6f} {r['cost_without_cache']:>10.6f}  {','.join(r['breakpoints'])}")
        t = sess["total"]
        print(f"{'':<{len(target)}}   all {t['uncached']:>9} {t['cache_read']:>7} {t['cache_write']:>7} "
              f"{t['output']:>7} {t['cost']:>10.6f} {t['cost_without_cache']:>10.6f}")
    print_day(result["day"])
    Path(args.out).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
