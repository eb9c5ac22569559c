# syntax=docker/dockerfile:1
# The one wastewatch image: every compose service of ours runs it with a
# different `wastewatch` subcommand (see docker-compose.yml).

# --- build: wheels for the project and all its dependencies -----------------
FROM python:3.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# The context is filtered by .dockerignore (no .venv, .git, .env, state, caches).
COPY . .
RUN pip wheel --wheel-dir /wheels .

# --- runtime: only the installed wheels, run as an unprivileged user ----------
FROM python:3.11-slim-bookworm

LABEL org.opencontainers.image.title="wastewatch" \
      org.opencontainers.image.description="Real-time waste monitoring for Thai municipalities" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 wastewatch \
 && useradd --system --uid 10001 --gid wastewatch \
      --home-dir /home/wastewatch --create-home --shell /usr/sbin/nologin wastewatch

RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels /wheels/*.whl

USER 10001:10001
WORKDIR /home/wastewatch

ENTRYPOINT ["wastewatch"]
CMD ["--help"]
