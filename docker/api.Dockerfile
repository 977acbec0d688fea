# The API: FastAPI on uvicorn. No TensorFlow in this image (the API never imports it).
#   docker build -f docker/api.Dockerfile .
#   docker build -f docker/api.Dockerfile --build-arg BASE_IMAGE=registry.internal/python:3.11-slim .
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
# Air-gapped: --build-arg PIP_INDEX_URL=https://pypi.internal/simple (pip reads it),
# and --build-arg APT_MIRROR=https://debian.internal for the strip step below.
ARG PIP_INDEX_URL

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# What the wheels need, and nothing else: .dockerignore is the list. The two wheels
# (tfjobs, tfjobs_server: no TensorFlow extra here) are built as scripts/build-wheels
# builds them anywhere, installed, then removed with the sources.
COPY . /tmp/tfjobs-src
# The installed packages' own test suites (NumPy's alone is 14 MB) are never run here.
# Some wheels ship their extensions with symbol tables (uvloop's: 13 MB, 1 MB stripped),
# so they are stripped as Debian strips its own libraries, by binutils installed and
# purged in this same layer — all but what auditwheel patched (the libraries it vendors
# under <package>.libs/ and the extensions whose RPATH points there): strip rewrites
# those layouts and NumPy no longer loads. Without a Debian mirror (an air-gapped build with no
# APT_MIRROR) that step is skipped and the image is ~20 MB larger, nothing else differs.
ARG APT_MIRROR
RUN bash /tmp/tfjobs-src/scripts/build-wheels /tmp/wheels \
    && pip install /tmp/wheels/tfjobs-*.whl /tmp/wheels/tfjobs_server-*.whl \
    && rm -rf /tmp/tfjobs-src /tmp/wheels \
    && site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    && find "$site" -depth -type d -name tests -prune -exec rm -rf {} + \
    && if [ -n "$APT_MIRROR" ]; then \
        sed -i "s|http://deb.debian.org|$APT_MIRROR|g" /etc/apt/sources.list.d/* /etc/apt/sources.list 2>/dev/null || true; fi \
    && if apt-get update -qq -o Acquire::Retries=0 \
        && apt-get install -y -qq --no-install-recommends binutils >/dev/null; then \
        find "$site" -type f \( -name "*.so" -o -name "*.so.*" \) ! -path "*.libs/*" -exec sh -c \
            'for f; do readelf -d "$f" | grep -q "R.*PATH.*ORIGIN" || strip --strip-unneeded "$f"; done' _ {} + \
        && apt-get purge -y -qq --auto-remove binutils >/dev/null; \
    else echo "no Debian mirror reachable: extensions left unstripped"; fi \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
    && useradd --create-home --uid 10001 tfjobs \
    && mkdir -p /data /artifacts && chown tfjobs /data /artifacts
USER tfjobs
WORKDIR /home/tfjobs
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=5s --retries=20 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=3)"]
CMD ["tfjobs", "api", "--host", "0.0.0.0", "--port", "8000"]
