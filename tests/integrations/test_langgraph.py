"""LangGraph (a StateGraph of a model node and the prebuilt ToolNode / tools_condition: the ReAct loop) driven for real
against the simulator, with ChatAnthropic from promptc.integrations.langchain: the plan's cache markers
reach the wire on every model call of the agent's loop, the tool-call step included, and the calls after
the first read the cache.

The simulator answers with text only (it never asks for a tool), so the tool call enters the loop the way
LangGraph's human-in-the-loop API puts one there: `update_state(..., as_node="agent")` writes an AIMessage
with a tool call as if the model node had returned it; the graph then runs its ToolNode and calls the model
with the tool_use / tool_result blocks in the history."""

from __future__ import annotations

from importlib.metadata import version

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import StructuredTool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from promptc.integrations.langchain import to_langchain

PINNED = "1.2.22"


def test_the_pinned_version_is_installed():
    assert version("langgraph") == PINNED


def plan_tools(lc, calls):
    """The plan's tools as LangChain tools with the same names and schemas, for the ToolNode to run (the model
    stays bound to the plan's tool dicts, cache_control included)."""
    def make(name):
        def run(**args):
            calls.append((name, args))
            return f"{name} ran with {sorted(args.items())}"
        return run

    return [StructuredTool.from_function(make(t["name"]), name=t["name"], description=t["description"],
                                         args_schema=t["input_schema"]) for t in lc.tools]


def test_a_langgraph_agent_carries_the_markers_through_its_loop(sim, turns, low_min_config):
    lc = to_langchain(turns[0], "anthropic/claude-sonnet-4-5", retention="long", config=low_min_config, max_tokens=32)
    built = lc.sdk.kwargs
    calls: list = []
    model = lc.model(base_url=sim.url, api_key="sk-ant-sim", max_retries=0)
    graph = StateGraph(MessagesState)
    graph.add_node("agent", lambda state: {"messages": [model.invoke(state["messages"])]})
    graph.add_node("tools", ToolNode(plan_tools(lc, calls)))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)  # a tool call → "tools", else the end
    graph.add_edge("tools", "agent")
    agent = graph.compile(checkpointer=InMemorySaver())
    thread = {"configurable": {"thread_id": "backend-session"}}
    first = len(sim.requests)

    # 1. the first turn: the plan's messages (system blocks with their markers, the user turn)
    agent.invoke({"messages": lc.messages}, thread)
    # 2. the tool-call step: the model node's answer is a tool call; the ToolNode runs it; the model is called again
    call = {"name": "read_file", "args": {"path": "api/app.py"}, "id": "toolu_sim_1", "type": "tool_call"}
    agent.update_state(thread, {"messages": [AIMessage(content="", tool_calls=[call])]}, as_node="agent")
    agent.invoke(None, thread)
    assert calls == [("read_file", {"path": "api/app.py"})]
    # 3. the next user turn, on the same thread (the history grows after the plan's prefix)
    nxt = to_langchain(turns[1], "anthropic/claude-sonnet-4-5", retention="long", config=low_min_config, max_tokens=32)
    agent.invoke({"messages": [HumanMessage(content=nxt.sdk.kwargs["messages"][-1]["content"])]}, thread)

    sent = [r["payload"] for r in sim.requests[first:]]
    assert len(sent) == 3  # one model call per step; nothing else reached the wire
    marked = lambda blocks: [i for i, b in enumerate(blocks) if "cache_control" in b]  # noqa: E731
    for body in sent:
        # the prefix as promptc built it: tools, system blocks and their cache_control (TTL included)
        assert body["tools"] == built["tools"] and body["system"] == built["system"]
        assert body["messages"][0] == built["messages"][0]
        assert marked(body["tools"]) + marked(body["system"]) == marked(built["tools"]) + marked(built["system"])
    assert len(lc.sdk.marks) == len(marked(built["tools"]) + marked(built["system"]) +
                                    [b for b in built["messages"][0]["content"] if "cache_control" in b]) > 0
    tool_step = sent[1]["messages"]
    assert [b["type"] for m in tool_step[-2:] for b in m["content"]] == ["tool_use", "tool_result"]
    assert tool_step[-2]["content"][0]["input"] == {"path": "api/app.py"}
    assert tool_step[-1]["content"][0]["tool_use_id"] == "toolu_sim_1"
    # turn 1, its answer, the tool call, its result, the answer, turn 2: the whole loop after the plan's prefix
    assert [m["role"] for m in sent[2]["messages"]] == ["user", "assistant", "assistant", "user", "assistant", "user"]
    # usage back, from the simulator's replies as LangGraph kept them: the later calls read the cached prefix
    replies = [m for m in agent.get_state(thread).values["messages"] if isinstance(m, AIMessage) and
               m.response_metadata.get("usage")]
    reads = [lc.usage(m).cache_read for m in replies]
    assert len(reads) == 3 and reads[0] == 0 and reads[1] > 0 and reads[2] > 0
