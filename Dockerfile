# agentwatch: the exporter, the demo simulator and the webhook receiver, in one image.
# Built the way `pip install .` builds it: pyproject.toml, README.md and the package under exporter/,
# with the bundle files its `shipped/` symlinks point at (rules, routing, demo, runbooks, dashboards).
# Two targets: `exporter` (the default, last below) holds the plain package; `audit` adds the
# `audit` extra (matplotlib) for `agentwatch audit`, the only command that draws charts.
FROM python:3.12-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
COPY prometheus ./prometheus
COPY alertmanager ./alertmanager
COPY deploy/demo ./deploy/demo
COPY docs/runbooks ./docs/runbooks
COPY grafana/dashboards ./grafana/dashboards
RUN pip install --no-cache-dir --root-user-action=ignore --prefix=/install .

FROM build AS build-audit
RUN pip install --no-cache-dir --root-user-action=ignore --prefix=/install ".[audit]"

FROM python:3.12-slim-bookworm AS runtime
RUN useradd --system --uid 10001 --home-dir /var/lib/agentwatch --create-home agentwatch \
 && mkdir -p /var/lib/agentwatch/incidents /var/lib/agentwatch/secrets /var/lib/agentwatch/rules && chown -R agentwatch:agentwatch /var/lib/agentwatch
COPY deploy/demo /etc/agentwatch/demo
COPY deploy/docker-entrypoint.sh /usr/local/bin/agentwatch-entrypoint
USER 10001:10001
WORKDIR /var/lib/agentwatch
EXPOSE 10133
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:10133/-/healthy', timeout=4)"]
ENTRYPOINT ["agentwatch-entrypoint"]
CMD ["serve"]

FROM runtime AS audit
COPY --from=build-audit /install /usr/local

FROM runtime AS exporter
COPY --from=build /install /usr/local
