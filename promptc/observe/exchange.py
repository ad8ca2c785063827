"""One observed request/response exchange, written once (sans-IO) and driven by the proxy and by
:func:`promptc.observe.instrument` alike: ``start`` with the request, ``feed`` every response chunk
as it passes (nothing is held back), ``finish`` with the status — which writes the trace record."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from promptc.observe.explain import Observer
from promptc.observe.wire import ResponseReader, WireError, api_for, split
from promptc.runtime.errors import redact

#: Headers that carry credentials: never copied anywhere but upstream.
#: Longest error message kept in a record.
MESSAGE_MAX = 240
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "x-goog-api-key", "proxy-authorization",
                            "cookie", "x-promptc-key"})


@dataclass
class TraceWriter:
    """Appends records to a JSONL trace (one line each, under a lock)."""

    path: str | Path
    on_record: Callable[[dict[str, Any]], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def write(self, rec: dict[str, Any]) -> None:
        line = json.dumps(rec, ensure_ascii=False, sort_keys=True, default=str)
        with self._lock:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
            if self.on_record is not None:
                self.on_record(rec)


def summary(rec: dict[str, Any]) -> str:
    """One line for a record: the agent, the target, what was read, and the miss with its cause and cost."""
    u = rec.get("usage") or {}
    head = f"{rec.get('plan')} {rec.get('target')}: "
    if rec.get("status") != "ok":
        return head + f"error {((rec.get('error') or {}).get('message') or '')}"
    head += f"read {u.get('cache_read')}, wrote {u.get('cache_write_total')}, uncached {u.get('uncached')}"
    inv = rec.get("invalidation")
    if not inv:
        return head
    cost = inv.get("miss_cost")
    money = "unpriced" if cost is None else f"${cost:.6f}"
    return head + f" — MISS {inv.get('reason')} at {inv.get('segment')}: {inv.get('detail')} (cost of the miss {money})"


@dataclass
class Exchange:
    """One exchange in flight. ``api`` is None for paths that are not a model call (forwarded, not traced)."""

    observer: Observer
    writer: TraceWriter | None
    path: str
    body: bytes
    label: str | None = None
    started: float = field(default_factory=time.perf_counter)
    api: str | None = None
    reader: ResponseReader | None = None
    record: dict[str, Any] | None = None

    order_wait_s: float = 0.0
    secrets: tuple[str, ...] = ()  # the request's credentials: masked exactly in any message (never stored)

    def __post_init__(self) -> None:
        found = api_for(self.path)
        self.api = found[0] if found else None
        self.ticket, self.arrived = self.observer.begin() if self.api is not None else (None, None)

    def response_started(self, status: int, headers: Mapping[str, str]) -> None:
        self.status = status
        self.request_id = headers.get("request-id") or headers.get("x-request-id")
        if self.api is not None:
            self.reader = ResponseReader(self.api, headers.get("content-type", ""), headers.get("content-encoding"))

    def feed(self, chunk: bytes) -> None:
        if self.reader is not None:
            self.reader.feed(chunk)

    def finish(self, failure: str | None = None) -> dict[str, Any] | None:
        """Explain the exchange and write its record (None when the path is not a model call or the
        request could not be split — the record then says so)."""
        if self.api is None:
            return None
        latency = time.perf_counter() - self.started
        status = getattr(self, "status", 502)
        if self.reader is not None:
            self.reader.finish()
        try:
            req = split(self.api, self.body, self.path)
        except (WireError, ValueError) as exc:  # unsplittable: recorded, never raised at the agent
            self.observer.abandon(self.ticket)
            rec = {"ts": round(self.observer.clock(), 3), "plan": self.label or "unparsed", "target": "unknown",
                   "status": "error", "attempts": 1, "latency_s": round(latency, 6), "segments": [],
                   "usage": None, "cost": None, "invalidation": None,
                   "error": {"code": None, "status": status, "message": redact(f"not analysed: {exc}", *self.secrets)[:MESSAGE_MAX],
                             "request_id": getattr(self, "request_id", None)},
                   "observe": {"api": self.api, "path": self.path}}
            self._write(rec)
            return rec
        reader = self.reader
        error = None
        if failure:
            error = {"message": redact(failure, *self.secrets)}
        elif reader is not None and reader.error:
            # a provider's message may quote a key: masked (exactly, and anything shaped like one)
            error = {"message": redact(str(reader.error.get("message") or reader.error), *self.secrets)[:MESSAGE_MAX]}
        rec = self.observer.explain(
            req, status=status, raw_usage=reader.usage if reader else None,
            reply_model=reader.model if reader else None, latency_s=latency, path=self.path, error=error,
            label=self.label, request_id=getattr(self, "request_id", None),
            stream_complete=reader.complete if (reader is not None and req.stream) else None,
            ticket=self.ticket, started=self.arrived, order_wait_s=self.order_wait_s, sink=self._annotate)
        return rec

    def _annotate(self, rec: dict[str, Any]) -> None:
        reader = self.reader
        status = getattr(self, "status", 502)
        if reader is not None:
            rec["observe"]["response_chunks"] = reader.chunks
            rec["observe"]["response_bytes"] = reader.bytes
            if reader.unparsable:
                rec["observe"]["usage_note"] = "response not parsed (encoding or size limit)"
            elif reader.usage is None and status < 400:
                rec["observe"]["usage_note"] = ("no usage in the response" + (
                    " (set stream_options.include_usage for streamed chat completions)"
                    if self.api == "openai-chat" and rec["observe"].get("stream") else ""))
        self._write(rec)

    def _write(self, rec: dict[str, Any]) -> None:
        self.record = rec
        if self.writer is not None:
            self.writer.write(rec)
