# The pond service: `pond serve` by default, `pond worker` or `pond db upgrade`
# as the command. Walked through in docs/deploy.md.
#
#   docker build -t pond .
#   docker run --rm -p 8000:8000 -e POND_DATABASE_URL=postgresql://... pond

# Build stage: install pond and its server dependencies into a virtual environment.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# Only what the package is built from, so a change to docs or tests reuses this layer.
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/venv/bin/pip install '.[server]'

# Run stage: the same Python, the virtual environment, and an unprivileged user.
FROM python:3.11-slim
RUN useradd --system --user-group --uid 10001 --create-home --home-dir /srv/pond pond
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    POND_DATA_DIR=/srv/pond/data \
    POND_LOG_FORMAT=json
USER pond
# pond reads pond.toml from its working directory: mount one here if you use it.
WORKDIR /srv/pond
# The default port of `pond serve`.
EXPOSE 8000
# Liveness of the API. A worker container serves no HTTP: run it with
# --no-healthcheck (compose.yaml disables the check for its workers).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["pond"]
# Every interface: in a container, 127.0.0.1 is reachable from nowhere else.
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
