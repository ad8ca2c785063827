"""The lint report: findings with locations, impact and suppressions (the JSON output's schema).

These pydantic models are the versioned contract of ``promptc lint --format json``; ``promptc schema
--lint`` prints their JSON Schema. Bump :data:`REPORT_VERSION` on any incompatible change.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

REPORT_VERSION = 2

Severity = Literal["error", "warning", "info"]


class _Model(BaseModel):
    # defer_build: the validators and serializers are built on first use, not at import — a
    # no-change lint (a pre-commit hook's usual run) renders an empty report and never needs them.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Location(_Model):
    """Where a finding points: a file (relative to the repository root or the working directory),
    1-based line and column, and which side of the change the file is on."""

    path: str
    line: int
    col: int
    end_line: int
    end_col: int
    side: Literal["new", "baseline"] = Field("new", description="baseline: the line exists only in the baseline")
    excerpt: str | None = Field(None, description="the source line the location points at")


class Cost(_Model):
    """The estimated extra cost of re-writing a prefix instead of reading it, in US dollars."""

    per_request: float = Field(description="next request: tokens × price × (write − read multiplier)")
    daily: float | None = Field(None, description="per_request × min(sessions, requests_per_day), with a traffic model")
    price_per_mtok: float = Field(description="input price per million tokens from the pricing table")
    write_multiplier: float
    read_multiplier: float
    pricing_key: str = Field(description="the pricing table row used (provider/model prefix)")
    source_date: str = Field(description="the date of the pricing data (or pyproject.toml when overridden)")
    ttl: str = Field("5m", description="the cache-write TTL the plan's retention buys (its write multiplier)")


class TargetImpact(_Model):
    """What one plan loses on one target."""

    target: str
    tokens: int = Field(description="tokens (re-)written to the cache on the next request, in the target's wire "
                                    "order and above its minimum (the plan's per-target counts)")
    lost: int = Field(0, description="cached tokens the next request no longer reads (what the wire loses)")
    lost_segments: list[str] = Field(default_factory=list,
                                     description="baseline segments whose cached tokens are no longer read")
    read: int = Field(0, description="tokens the next request still reads from the cache")
    estimate: bool = Field(description="true when the target's tokenizer is a proxy (counts are estimates)")
    breakpoints_lost: list[str] = Field(default_factory=list,
                                        description="segments whose provider breakpoint cache entry is lost")
    cost: Cost | None = None
    notes: list[str] = Field(default_factory=list, description="e.g. nothing was cached before / will be after")


class PlanImpact(_Model):
    """One plan's lost cached prefix: from which segment on, per target."""

    plan: str
    from_segment: str = Field(description="the first segment whose cached prefix is lost")
    targets: list[TargetImpact]


class Suppression(_Model):
    """Why a finding does not count against ``--fail-on``."""

    by: Literal["comment", "cache_epoch"]
    reason: str
    location: Location | None = None


class Finding(_Model):
    """One change, located, coded and explained, with its impact across plans."""

    code: str
    name: str = Field(description="the code's kebab-case name in the registry")
    severity: Severity
    message: str
    location: Location | None = None
    segment: str | None = None
    plans: list[str] = Field(default_factory=list, description="every plan the change reaches")
    impact: list[PlanImpact] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    hint: str | None = None
    suppressed: Suppression | None = None

    @property
    def breaking(self) -> bool:
        """True when a cached prefix is lost (error findings)."""
        return self.severity == "error"


class PlanSummary(_Model):
    """Per plan: tokens invalidated and cost, counted once from the earliest break."""

    plan: str
    from_segment: str
    tokens: dict[str, int] = Field(description="per target: tokens (re-)written on the next request")
    lost: dict[str, int] = Field(default_factory=dict, description="per target: cached tokens no longer read")
    cost: dict[str, float] = Field(default_factory=dict, description="per target: extra cost of the next request")
    cost_per_request: float = Field(description="the dearest target's extra cost (a request goes to one provider: "
                                                "targets are never added up)")
    cost_daily: float | None = None
    suppressed: bool = Field(description="true when every finding breaking this plan is suppressed")


class Summary(_Model):
    errors: int
    warnings: int
    infos: int
    suppressed: int
    plans: list[PlanSummary]
    cost: dict[str, float] = Field(default_factory=dict,
                                   description="per target: the next request of every broken plan, a shared prefix "
                                               "counted once (the first plan re-writes it, the others read it)")
    cost_per_request: float = Field(description="the dearest target's total (never a sum across providers)")
    cost_daily: float | None = None


class LintReport(_Model):
    """The whole result of one ``promptc lint`` run."""

    version: int = REPORT_VERSION
    tool: str = "promptc"
    tool_version: str
    baseline: str = Field(description="what was compared against: git ref, lockfile or directory")
    baseline_kind: Literal["git", "lock", "dir"]
    findings: list[Finding]
    summary: Summary
    notes: list[str] = Field(default_factory=list, description="about the comparison itself (e.g. a fallback)")

    @classmethod
    def empty(cls, baseline: str, kind: str, tool_version: str) -> "LintReport":
        """A report with no findings (nothing changed). Constructed without validation (every value is
        a valid constant here; a test holds it equal to the validated report) so that the text formats
        of a no-change lint never build a validator."""
        summary = Summary.model_construct(errors=0, warnings=0, infos=0, suppressed=0, plans=[], cost_per_request=0.0)
        return cls.model_construct(tool_version=tool_version, baseline=baseline, baseline_kind=kind, findings=[],
                                   summary=summary)

    def failing(self, fail_on: str) -> list[Finding]:
        """Unsuppressed findings at or above ``fail_on`` (``error``, ``warning`` or ``never``)."""
        levels = {"error": ("error",), "warning": ("error", "warning"), "never": ()}[fail_on]
        return [f for f in self.findings if f.suppressed is None and f.severity in levels]


def lint_json_schema() -> dict:
    """JSON Schema of ``promptc lint --format json`` (``promptc schema --lint``)."""
    schema = LintReport.model_json_schema()
    schema["title"] = f"promptc lint report, version {REPORT_VERSION}"
    return schema
