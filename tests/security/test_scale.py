"""Issue 9 (3): thousands of segments compile in near-linear time.

No wall-clock asserts: the work that used to be quadratic is counted instead. The chat-template
split of n messages renders O(n) messages in all (it rendered n²/2 before), and the compiler's
whole pipeline renders a number of chat-template messages that grows linearly with the plan.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptc.compiler.build import compile_project
from promptc.tokenizers.chat import CHATML, ChatTemplate, ChatTemplateError

SMOL = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\n"
        "You are a helpful AI assistant<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + "
        "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
        "{{ '<|im_start|>assistant\\n' }}{% endif %}")
#: Templates that defeat the one-pass split (they look ahead, or iterate twice): the exact split is used.
LOOKAHEAD = ("{% for m in messages %}{{ m['content'] }}{% if not loop.last %}{{ '|' + messages[loop.index0 + 1]['role'] "
             "+ '>' }}{% endif %}{% endfor %}")
TWICE = ("{% for m in messages %}{% if loop.first %}[{{ m['role'] }}]{% endif %}{% endfor %}"
         "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}")
SLICED = ("{% if messages[0]['role'] == 'system' %}<<{{ messages[0]['content'] }}>>{% set rest = messages[1:] %}"
          "{% else %}{% set rest = messages %}{% endif %}{% for m in rest %}<{{ m['role'] }}>{{ m['content'] }}"
          "{% endfor %}")
#: Emits message i+1's separator while on message i: the one-pass split misattributes it, the check catches it.
SEPARATOR = "{% for m in messages %}{{ m['content'] }}{% if loop.index0 + 1 < messages|length %}|{% endif %}{% endfor %}"
NOT_PREFIX_STABLE = "{% for m in messages %}{{ m['content'] }}{% endfor %}({{ messages|length }})"


class Counting(ChatTemplate):
    """Counts the messages rendered (the split's work)."""

    def __init__(self, source):
        super().__init__(source)
        self.rendered = 0

    def render(self, messages, add_generation_prompt=False):
        self.rendered += len(messages)
        return super().render(messages, add_generation_prompt)

    def _split_tracked(self, messages):
        self.rendered += len(messages)
        return super()._split_tracked(messages)


def _messages(n):
    return [{"role": ("system", "user", "assistant")[i % 3], "content": f"message {i}"} for i in range(n)]


@pytest.mark.parametrize("source", [CHATML, SMOL, LOOKAHEAD, TWICE, SLICED, SEPARATOR])
@pytest.mark.parametrize("n", [1, 2, 5, 9, 17, 40])
def test_split_pieces_are_exactly_the_prefix_differences(source, n):
    chat = ChatTemplate(source)
    msgs = _messages(n)
    got = chat.split(msgs)
    assert got.pieces == chat._split_exact(msgs)
    assert got.text == chat.render(msgs, add_generation_prompt=True)


def test_the_fallback_is_taken_when_the_one_pass_split_is_wrong():
    chat = ChatTemplate(SEPARATOR)
    msgs = _messages(12)
    assert chat._split_tracked(msgs) != chat._split_exact(msgs)
    assert chat.split(msgs).pieces == chat._split_exact(msgs)


def test_a_template_that_is_not_prefix_stable_is_still_refused():
    with pytest.raises(ChatTemplateError):
        ChatTemplate(NOT_PREFIX_STABLE).split(_messages(20))


@pytest.mark.parametrize("source", [CHATML, SMOL])
def test_split_work_grows_linearly(source):
    work = {}
    for n in (1000, 2000, 4000):
        chat = Counting(source)
        chat.split(_messages(n))
        work[n] = chat.rendered
    per_message = {n: w / n for n, w in work.items()}
    assert per_message[4000] <= 1.2 * per_message[1000]  # linear (quadratic would be 4x)
    assert per_message[4000] < 10


def test_compile_renders_chat_messages_linearly(tmp_path, monkeypatch):
    from promptc.compiler.context import BuildContext

    counts = {}
    for n in (300, 600, 1200):
        root = tmp_path / str(n)
        root.mkdir()
        body = "\n".join(f'agent s{i} @static role {("system", "user")[i % 2]} """\nRule {i}.\n"""' for i in range(n))
        (root / "big.prompt").write_text(body + "\nplan big = " + ", ".join(f"s{i}" for i in range(n)) + "\n")
        chat = Counting(None)
        monkeypatch.setattr(BuildContext, "chat_template", lambda self, tok, chat=chat: chat)
        result = compile_project([root], cache_dir=root / "cache", context=BuildContext())
        assert not result.errors
        assert len(result.plans["big"].segments) == n
        counts[n] = chat.rendered / n
    assert counts[1200] <= 1.2 * counts[300]


def _reference_order(plan, segs):
    """check_plan_order as it was (O(n²)): the first earlier, more stable segment decides."""
    from promptc.core.vocab import STABILITY_RANK

    out = []
    for i in range(1, len(segs)):
        ref, seg = segs[i]
        for _, prev in segs[:i]:
            if STABILITY_RANK[seg.stability] >= STABILITY_RANK[prev.stability]:
                continue
            out.append(("E204" if prev.append_only else "E201", ref.span, prev.name))
            break
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["static", "session", "turn"]), st.booleans()), max_size=12))
def test_one_pass_plan_order_check_matches_the_quadratic_one(spec):
    from promptc.compiler.check import check_plan_order
    from promptc.syntax import ast

    segs = []
    for i, (stab, append) in enumerate(spec):
        span = ast.Span("m.prompt", i + 1, 1)
        seg = ast.Segment(level="agent", name=f"s{i}", stability=stab, append_only=append, kind="text", role="system",
                          span=span, name_span=span)
        segs.append((ast.Ref((f"s{i}",), span), seg))
    plan = ast.PlanDecl("p", tuple(r for r, _ in segs), ast.Span("m.prompt", 1, 1), ast.Span("m.prompt", 1, 1))
    got = [(d.code, d.span, d.message) for d in check_plan_order(plan, segs) if d.code in ("E201", "E204")]
    want = _reference_order(plan, segs)
    assert [(c, s) for c, s, _ in got] == [(c, s) for c, s, _ in want]
    assert all(f"`{name}`" in m for (_, _, m), (_, _, name) in zip(got, want))
