# syntax=docker/dockerfile:1
#
# rds-log-shipper container image: a batch job started by an EventBridge schedule on ECS.
#
#   docker build -t rds-log-shipper .
#   docker run --rm -e SHIPPER_BUCKET=my-bucket -e AWS_REGION=eu-west-1 rds-log-shipper status
#
# Base image: Debian bookworm slim with CPython 3.12, pinned by tag AND digest in both stages
# (kept identical; tests/infra checks it), so a rebuild gets the same bytes and checkov and
# hadolint can see the pin. The digest is the one public projects record for this tag (one notes
# it was resolved from Docker Hub on 2026-08-24); it could not be re-resolved from the machine
# that wrote this file. To bump both lines:
#   docker buildx imagetools inspect python:3.12-slim-bookworm --format '{{.Name}}@{{.Manifest.Digest}}'
#
# BASE_IMAGE exists only for machines that cannot pull it: tests/infra/test_container.py builds
# on a stand-in made from Debian packages (--build-arg BASE_IMAGE=localhost/standin-python:...).
# Releases use the default.
# checkov:skip=CKV_DOCKER_7: FROM names the BASE_IMAGE argument, whose default is pinned by tag and digest
ARG BASE_IMAGE=python:3.12.13-slim-bookworm@sha256:4766d8b510c428e595d74b9cc5bbb2fae8e26316fffb4adc89908d79aacd58a2

# ---------------------------------------------------------------------------------------------
# Stage 1: build the project's wheel and the wheels of its runtime dependencies.
# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# Only what the wheel is built from (see .dockerignore): tests, bench and infra stay out.
COPY pyproject.toml uv.lock README.md ./
COPY shipper ./shipper
# Runtime dependency versions come from uv.lock, the one lock that `make test` installs from
# too, so the image ships the libraries the tests ran with. uv (pinned; the same version as the
# Makefile's UV_VERSION, tests/infra checks it) only exports the runtime part of the lock:
# hashes included, no extras. pip then builds wheels of exactly those, hash-checked.
ARG UV_VERSION=0.13.9
RUN pip install "uv==${UV_VERSION}" \
    && uv export --frozen --no-emit-project --format requirements-txt -o /tmp/runtime.txt \
    && pip wheel --require-hashes --no-deps --requirement /tmp/runtime.txt --wheel-dir /wheels \
    && pip wheel --no-deps --wheel-dir /wheels .

# ---------------------------------------------------------------------------------------------
# Stage 2: the runtime image. No compiler, no source tree, no pip cache, no wheels left behind.
# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime

LABEL org.opencontainers.image.title="rds-log-shipper" \
      org.opencontainers.image.description="Ships Amazon RDS/Aurora logs into S3 exactly once"

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TMPDIR=/tmp

# The wheels are bind-mounted from the build stage (BuildKit), so they never become a layer.
# --no-index: only the wheels built above are installed; nothing is fetched at this point.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels /wheels/rds_log_shipper-*.whl \
    && groupadd --system --gid 10001 shipper \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin shipper \
    && rds-log-shipper --version

# The root filesystem may be mounted read-only (ECS readonlyRootFilesystem): the shipper
# writes nothing but temporary spill files under $TMPDIR, which is a volume.
VOLUME ["/tmp"]
WORKDIR /tmp

# Numeric UID:GID so Kubernetes/ECS "runAsNonRoot"-style checks can verify it without
# reading /etc/passwd.
USER 10001:10001

# PID 1 is the Python process itself (exec form, no shell wrapper), so SIGTERM from
# `docker stop`, ECS StopTask or a Spot interruption reaches the shipper, which commits its
# durable progress and exits 143 within 20 s (ECS stopTimeout gives it 30 s or more).
STOPSIGNAL SIGTERM

# A batch job, not a service: it runs for at most SHIPPER_MAX_RUNTIME seconds and its exit
# code is the verdict (see shipper/exitcodes.py). There is no port or endpoint to probe, and
# ECS ignores Docker HEALTHCHECKs for tasks without a container healthCheck anyway.
HEALTHCHECK NONE

# `docker run IMAGE` ships; `docker run IMAGE status` / `state show --instance ID`, or an ECS
# command override, runs another subcommand with the same settings. (`demo` needs the
# [demo] extra, which the image leaves out.)
ENTRYPOINT ["rds-log-shipper"]
CMD ["run"]
