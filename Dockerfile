# distillwatch worker image.
#   docker build -t distillwatch:0.1.0 .
#   docker run --rm -e DISTILLWATCH_BROKER=kafka:9092 -p 6066:6066 distillwatch:0.1.0
# The default command is `distillwatch worker`; any subcommand works
# (`docker run ... distillwatch:0.1.0 settings`). See docs/deploy.md.

# Exact tag, so a rebuild gets the same Python and Debian; bump it deliberately.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# a C compiler for the compiled detection hot path (setup.py); the runtime image needs none
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/distillwatch
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY detectors ./detectors
COPY streams ./streams
COPY simulator ./simulator
COPY evaluation ./evaluation
# rocksdb: the persistent table store a production worker uses (DISTILLWATCH_STORE=rocksdb://)
RUN /opt/distillwatch/bin/pip install ".[rocksdb]"

FROM ${PYTHON_IMAGE}
# A fixed, unprivileged user (Kubernetes runAsUser/fsGroup in deploy/k8s use the same ids).
RUN groupadd --system --gid 10001 distillwatch \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/distillwatch --no-create-home distillwatch \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/distillwatch
COPY --from=build /opt/distillwatch /opt/distillwatch
ENV PATH=/opt/distillwatch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DISTILLWATCH_WEB_HOST=0.0.0.0 \
    DISTILLWATCH_WEB_PORT=6066 \
    DISTILLWATCH_STORE=rocksdb:// \
    DISTILLWATCH_DATADIR=/var/lib/distillwatch
USER 10001:10001
WORKDIR /var/lib/distillwatch
VOLUME ["/var/lib/distillwatch"]
EXPOSE 6066
# /healthz answers once the worker's web server is up (it needs no admin token).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('DISTILLWATCH_WEB_PORT', '6066'), timeout=4)"
ENTRYPOINT ["distillwatch"]
CMD ["worker"]
