#!/bin/sh
# The agentwatch container. With no platform configured (no --config.file among the arguments,
# AGENTWATCH_PAPERCLIP_URL and AGENTWATCH_CONFIG_FILE unset), the exporter watches the built-in demo.
set -eu
case "${1:-serve}" in
  demo|rules|incidents|help|--version|--help|-h) exec agentwatch "$@" ;;
esac
for arg in "$@"; do
  case "$arg" in --config.file|--config.file=*) exec agentwatch "$@" ;; esac
done
if [ -n "${AGENTWATCH_CONFIG_FILE:-}" ]; then
  set -- "$@" "--config.file=${AGENTWATCH_CONFIG_FILE}"
elif [ -z "${AGENTWATCH_PAPERCLIP_URL:-}" ]; then
  unset AGENTWATCH_PAPERCLIP_URL
  set -- "$@" --config.file=/etc/agentwatch/demo/agentwatch.yml
fi
exec agentwatch "$@"
