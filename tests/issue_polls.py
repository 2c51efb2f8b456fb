"""A hypothesis strategy for the incremental analyses: the issues of one company over several
polls, as the source hands them over. An issue that did not change between two polls is the
same object in both (as the source keeps it); one that changed is a new object; some polls
hand over an equal issue as a new object (a full resync keeps the held one, but an analysis
must not rely on it), add issues, or drop them.

The incremental analyses are checked against their from-scratch counterparts after every poll.
"""

from __future__ import annotations

from hypothesis import strategies as st

from agentwatch.model import Issue

IDS = tuple(f"i{n}" for n in range(10))
# blockers and parents may point at an issue never seen
REFERENCES = IDS + ("gone",)
STATUSES = ("backlog", "todo", "in_progress", "in_review", "blocked", "done", "cancelled", "odd")
AGENT_IDS = (None, "alice", "bob", "carol", "ghost")
TIMES = (None, 0.0, 990_000.0, 995_000.0, 999_000.0, 999_999.5, 1_000_000.0, 1_001_000.0)
RUN_IDS = (None, "r-live", "r-ended", "r-unknown")


@st.composite
def an_issue(draw, iid: str) -> Issue:
    return Issue(
        iid,
        iid.upper(),
        draw(st.sampled_from(STATUSES)),
        assignee_agent_id=draw(st.sampled_from(AGENT_IDS)),
        assignee_user_id=draw(st.sampled_from((None, "user-1"))),
        parent_id=draw(st.sampled_from((None,) + REFERENCES)),
        blocked_by=tuple(draw(st.lists(st.sampled_from(REFERENCES), max_size=3, unique=True))),
        execution_run_id=draw(st.sampled_from(RUN_IDS)),
        checkout_run_id=draw(st.sampled_from(RUN_IDS)),
        unblock_owner=draw(st.sampled_from((None, "board", "user", "agent"))),
        started_at=draw(st.sampled_from(TIMES)),
        completed_at=draw(st.sampled_from(TIMES)),
        created_at=draw(st.sampled_from(TIMES)),
        updated_at=draw(st.sampled_from(TIMES)),
        is_canary=draw(st.booleans()),
        recovery=draw(st.sampled_from((None, None, "missing_disposition"))),
    )


@st.composite
def issue_polls(draw, max_polls: int = 5) -> list[dict[str, Issue]]:
    """The issues of 1 to ``max_polls`` polls, each a new dict, sharing unchanged issues' objects."""
    polls: list[dict[str, Issue]] = []
    current: dict[str, Issue] = {}
    for _ in range(draw(st.integers(1, max_polls))):
        nxt = dict(current)
        for iid in draw(st.lists(st.sampled_from(IDS), max_size=len(IDS), unique=True)):
            action = draw(st.sampled_from(("change", "change", "drop", "same_but_new_object")))
            if action == "drop":
                nxt.pop(iid, None)
            elif action == "same_but_new_object" and iid in nxt:
                old = nxt[iid]
                nxt[iid] = Issue(**{f: getattr(old, f) for f in old.__struct_fields__})
            else:
                nxt[iid] = draw(an_issue(iid))
        polls.append(nxt)
        current = nxt
    return polls
