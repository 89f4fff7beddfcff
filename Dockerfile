# jpsi-sidis HTTP service.  docker build -t jpsi-sidis . && docker run -p 8000:8000 jpsi-sidis
# Two stages: the build stage installs the pinned wheels into a virtualenv, the
# runtime stage copies only that virtualenv, the artifacts and a non-root user.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_COMPILE=0 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# no pip or setuptools inside the virtualenv (23 MB the service never runs): the base image's
# pip installs into it
RUN python -m venv --without-pip /opt/venv
COPY pyproject.toml requirements.lock README.md ./
# only the layers the service runs: physics, runtime and service (training stays out)
COPY physics ./physics
COPY runtime ./runtime
COPY service ./service
# The base install is exactly the serving set (numpy, onnxruntime, pyarrow, FastAPI/uvicorn,
# pydantic, orjson, prometheus-client, and pythia8mc for its PDF grids): training, tests and
# development tools are extras (pyproject.toml) and never enter the image. Binary wheels only,
# every version pinned by the constraints file. Pythia's documentation is dropped; then prove
# the service imports, finds its PDF set and the assets of /docs, /redoc and /explore.
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m pip --python /opt/venv/bin/python install --only-binary=:all: \
      -c requirements.lock . \
 && rm -rf /opt/venv/share/Pythia8/htmldoc /opt/venv/share/Pythia8/pdfdoc \
 && /opt/venv/bin/python -c "import service.app, physics; physics.load_pdf()" \
 && /opt/venv/bin/python -c "from service.pages import STATIC_DIR as d; \
      assert (d / 'vendor/swagger-ui/swagger-ui-bundle.js').is_file(); \
      assert (d / 'explore/index.html').is_file()"
# artifacts readable by the service user whatever modes they had in the build context
COPY artifacts /app/artifacts
RUN chmod -R u=rwX,go=rX /app/artifacts

FROM python:3.11-slim
# Runs on a read-only root file system: nothing is written but the workers' shared
# metrics, in a temporary directory. TMPDIR=/dev/shm because a read-only root has no
# writable /tmp unless one is mounted (docker --read-only, Kubernetes
# readOnlyRootFilesystem), while every runtime mounts a tmpfs on /dev/shm.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/dev/shm \
    JPSI_HOST=0.0.0.0 \
    JPSI_PORT=8000 \
    JPSI_ARTIFACT_DIR=/app/artifacts
RUN groupadd --system --gid 10001 jpsi \
 && useradd --system --uid 10001 --gid jpsi --home-dir /app --no-create-home jpsi
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app/artifacts /app/artifacts
WORKDIR /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('JPSI_PORT', '8000')}/healthz\", timeout=4)"]
# exec form: jpsi-serve (uvicorn) is PID 1 and gets SIGTERM itself, so it stops
# accepting connections and drains in-flight requests (30 s grace) before exiting
CMD ["jpsi-serve"]
