# factmark API image: uv builds the virtual environment, a slim stage runs it as a non-root user.
FROM python:3.11-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY src ./src
COPY alembic ./alembic
COPY seeds ./seeds
RUN uv sync --locked --no-dev

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 factmark \
    && useradd --system --uid 10001 --gid factmark --home-dir /app --no-create-home factmark \
    && mkdir -p /app/data && chown factmark:factmark /app/data
WORKDIR /app
COPY --from=build --chown=factmark:factmark /app /app
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    FACTMARK_HOST=0.0.0.0 \
    FACTMARK_DATA_DIR=/app/data \
    FACTMARK_LOG_FORMAT=json
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=4).status == 200 else 1)"]
# serve runs the migrations first (FACTMARK_MIGRATE_ON_START), then uvicorn.
CMD ["factmark", "serve"]
