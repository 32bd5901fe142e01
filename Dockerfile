# Claude Code API Service: the HTTP API (and, with another command, a queue worker) plus the
# Claude Code CLI it drives. Build: docker build -t claude-code-api .
# Try it without credentials: docker run -p 8080:8080 -e CCAPI_DEMO=true claude-code-api
# See docs/DEPLOYMENT.md.

# --- 1. build the wheel (hatchling is fetched by pip's isolated build) ------------------------
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# --- 2. Node.js, taken from the official image (no third-party apt repository) -----------------
# Node 22: the CLI's newer releases (2.1.33x) refuse older Node (engines ">=22").
FROM node:22-bookworm-slim AS node

# --- 3. runtime ----------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm
# Pinned, so a rebuild runs the CLI the service was tested with (its stream-json output and
# flags change between releases). Move on with --build-arg CLAUDE_CODE_VERSION=x.y.z, then run
# make test-deploy.
ARG CLAUDE_CODE_VERSION=2.1.197

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
    CCAPI_DATABASE_URL=sqlite:////data/budgets.db

COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && npm install -g "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}" \
    && npm cache clean --force \
    && claude --version

# The project's dependencies first, in their own layer: it is rebuilt when pyproject.toml
# changes, not on every source change (the wheel below then installs in seconds).
COPY pyproject.toml /tmp/pyproject.toml
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']))" >/tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/pyproject.toml /tmp/requirements.txt

COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels

# Non-root: the CLI keeps its login in ~/.claude (mount a volume there to keep it), SQLite
# lives in /data, per-task working directories go to /tmp.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin ccapi \
    && mkdir -p /data /home/ccapi/.claude \
    && chown -R ccapi:ccapi /data /home/ccapi
USER ccapi
WORKDIR /home/ccapi
VOLUME ["/data", "/home/ccapi/.claude"]

EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

CMD ["claude-code-api", "serve", "--host", "0.0.0.0", "--port", "8080"]
