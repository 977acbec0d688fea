# A training worker. BASE_IMAGE picks CPU or GPU TensorFlow (or a mirror of either):
#   docker build -f docker/worker.Dockerfile .                                       # CPU
#   docker build -f docker/worker.Dockerfile --build-arg BASE_IMAGE=tensorflow/tensorflow:2.21.0-gpu .
ARG BASE_IMAGE=tensorflow/tensorflow:2.21.0
FROM ${BASE_IMAGE}
# Air-gapped: --build-arg PIP_INDEX_URL=https://pypi.internal/simple (pip reads it).
ARG PIP_INDEX_URL

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2
# What the wheels need, and nothing else: .dockerignore is the list. The two wheels
# (tfjobs, tfjobs_server with its train extra) are built as scripts/build-wheels builds
# them anywhere, installed, then removed with the sources.
COPY . /tmp/tfjobs-src
# The base image already has TensorFlow 2.21; the train extra adds Keras >= 3.15.
RUN bash /tmp/tfjobs-src/scripts/build-wheels /tmp/wheels \
    && pip install /tmp/wheels/tfjobs-*.whl "$(echo /tmp/wheels/tfjobs_server-*.whl)[train]" \
    && rm -rf /tmp/tfjobs-src /tmp/wheels \
    && useradd --create-home --uid 10001 tfjobs \
    && mkdir -p /data /artifacts && chown tfjobs /data /artifacts
USER tfjobs
WORKDIR /home/tfjobs
# Healthy once TensorFlow has loaded and the worker takes jobs (it touches the file then).
HEALTHCHECK --interval=5s --timeout=3s --start-period=120s --retries=3 \
    CMD ["test", "-f", "/tmp/tfjobs-worker.ready"]
CMD ["tfjobs", "worker", "--concurrency", "1", "--ready-file", "/tmp/tfjobs-worker.ready"]
