# syntax=docker/dockerfile:1
# bounced: build a wheel, install it with its dependencies into a virtualenv, ship only that venv.
#   docker build -t bounced .
#   docker run --env-file /etc/bounced/bounced.env -p 127.0.0.1:8080:8080 bounced
# BASE: any Debian-like image with python3.11, venv and pip (`make test-deploy` builds one offline).
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bounced/ bounced/
# The venv lives at the same path in both stages: its scripts carry absolute shebangs.
RUN pip wheel --no-deps --wheel-dir /dist . \
    && python -m venv /opt/bounced \
    && /opt/bounced/bin/pip install /dist/bounced_ses-*.whl

FROM ${BASE}
RUN groupadd --system --gid 10001 bounced \
    && useradd --system --uid 10001 --gid bounced --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin bounced
COPY --from=build /opt/bounced /opt/bounced
# Inside the container the daemon must listen on all interfaces: the port is published by Docker,
# and connections arrive on the container's own interface, not its loopback. Publish it to the
# host's loopback (-p 127.0.0.1:8080:8080) unless something else should reach it.
ENV PATH=/opt/bounced/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BOUNCED_HTTP_ADDR=0.0.0.0:8080 \
    BOUNCED_LOG_FORMAT=json
USER 10001:10001
EXPOSE 8080
# SIGTERM starts the drain; give the container `stop_grace_period`/`--stop-timeout` above the
# shutdown grace (25 s) plus one long-poll wait (20 s).
STOPSIGNAL SIGTERM
# Liveness: `bounced check` asks /healthz on BOUNCED_HTTP_ADDR (0.0.0.0 is asked on 127.0.0.1) and
# gives up after 5 s. A daemon waiting for PostgreSQL is alive: restarting it would not help.
# Readiness (PostgreSQL, schema, queues) is `bounced check --ready`, for scripts and alerts.
HEALTHCHECK --interval=15s --timeout=10s --start-period=30s --retries=3 CMD ["bounced", "check"]
ENTRYPOINT ["bounced"]
CMD ["run"]
