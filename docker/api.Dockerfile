# The API: FastAPI on uvicorn. No TensorFlow in this image (the API never imports it).
#   docker build -f docker/api.Dockerfile .
#   docker build -f docker/api.Dockerfile --build-arg BASE_IMAGE=registry.internal/python:3.11-slim .
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
# Air-gapped: --build-arg PIP_INDEX_URL=https://pypi.internal/simple (pip reads it).
ARG PIP_INDEX_URL

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# What the package needs, and nothing else: .dockerignore is the list. Installed, then
# removed, so that only the installed package is importable at run time.
COPY . /tmp/tfjobs-src
# The installed packages' own test suites (NumPy's alone is 14 MB) are never run here.
RUN pip install "/tmp/tfjobs-src[server]" && rm -rf /tmp/tfjobs-src \
    && find "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
        -depth -type d -name tests -prune -exec rm -rf {} + \
    && useradd --create-home --uid 10001 tfjobs \
    && mkdir -p /data /artifacts && chown tfjobs /data /artifacts
USER tfjobs
WORKDIR /home/tfjobs
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=5s --retries=20 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=3)"]
CMD ["tfjobs", "api", "--host", "0.0.0.0", "--port", "8000"]
