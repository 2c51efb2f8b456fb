#!/bin/bash
# An LLM-free `process`-adapter agent for tests. Paperclip runs it on every heartbeat with
# PAPERCLIP_AGENT_ID, PAPERCLIP_COMPANY_ID, PAPERCLIP_RUN_ID, PAPERCLIP_TASK_ID (when the wake is
# about a task), PAPERCLIP_API_URL and PAPERCLIP_API_KEY (a run-scoped token). Knobs (adapter env):
#   FAKE_COST_CENTS   post a cost event of this many cents for the run (0 = none)
#   FAKE_MODEL, FAKE_PROVIDER, FAKE_INPUT_TOKENS   fields of that cost event
#   FAKE_ANSWER       post this text as a comment on the task of the run (how canaries get answers)
#   FAKE_SET_STATUS   move the task to this status at the end of the run (e.g. done)
#   FAKE_SLEEP_SEC    how long the run lasts (default 1); FAKE_EXIT_CODE  its exit code (non-zero = failed)
api() { curl -s -o /dev/null -w '%{http_code}' -X "$1" "$PAPERCLIP_API_URL$2" -H "Authorization: Bearer $PAPERCLIP_API_KEY" \
  -H "X-Paperclip-Run-Id: $PAPERCLIP_RUN_ID" -H 'Content-Type: application/json' -d "$3"; }
if [ -z "${PAPERCLIP_TASK_ID:-}" ] && [ -n "${PAPERCLIP_API_KEY:-}" ]; then  # the process adapter does not pass it
  PAPERCLIP_TASK_ID=$(curl -s "$PAPERCLIP_API_URL/api/heartbeat-runs/$PAPERCLIP_RUN_ID" -H "Authorization: Bearer $PAPERCLIP_API_KEY" |
    python3 -c 'import json,sys; print((json.load(sys.stdin).get("contextSnapshot") or {}).get("issueId") or "")' 2>/dev/null)
fi
echo "fake-agent: agent=$PAPERCLIP_AGENT_ID run=$PAPERCLIP_RUN_ID task=${PAPERCLIP_TASK_ID:-}"
if [ "${FAKE_COST_CENTS:-0}" != 0 ] && [ -n "${PAPERCLIP_API_KEY:-}" ]; then
  echo "cost-event -> $(api POST "/api/companies/$PAPERCLIP_COMPANY_ID/cost-events" "{\"agentId\":\"$PAPERCLIP_AGENT_ID\",\"heartbeatRunId\":\"$PAPERCLIP_RUN_ID\",\"provider\":\"${FAKE_PROVIDER:-anthropic}\",\"biller\":\"${FAKE_PROVIDER:-anthropic}\",\"billingType\":\"metered_api\",\"model\":\"${FAKE_MODEL:-claude-sonnet-4-5}\",\"inputTokens\":${FAKE_INPUT_TOKENS:-1200},\"cachedInputTokens\":0,\"outputTokens\":450,\"costCents\":$FAKE_COST_CENTS,\"occurredAt\":\"$(date -u +%FT%T.000Z)\"}")"
fi
if [ -n "${FAKE_ANSWER:-}" ] && [ -n "${PAPERCLIP_TASK_ID:-}" ]; then
  body=$(printf '%s' "$FAKE_ANSWER" | sed 's/\\/\\\\/g; s/"/\\"/g')
  echo "comment -> $(api POST "/api/issues/$PAPERCLIP_TASK_ID/comments" "{\"body\":\"$body\"}")"
fi
sleep "${FAKE_SLEEP_SEC:-1}"
if [ -n "${FAKE_SET_STATUS:-}" ] && [ -n "${PAPERCLIP_TASK_ID:-}" ]; then
  echo "status -> $(api PATCH "/api/issues/$PAPERCLIP_TASK_ID" "{\"status\":\"$FAKE_SET_STATUS\"}")"
fi
exit "${FAKE_EXIT_CODE:-0}"
