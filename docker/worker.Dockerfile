# A training worker. BASE_IMAGE picks CPU or GPU TensorFlow:
#   docker build -f docker/worker.Dockerfile .                                       # CPU
#   docker build -f docker/worker.Dockerfile --build-arg BASE_IMAGE=tensorflow/tensorflow:2.21.0-gpu .
ARG BASE_IMAGE=tensorflow/tensorflow:2.21.0
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 TF_CPP_MIN_LOG_LEVEL=2
WORKDIR /srv/tfjobs
COPY pyproject.toml README.md ./
COPY tfcore ./tfcore
COPY app ./app
COPY worker ./worker
# The base image already has TensorFlow 2.21; the train extra adds Keras >= 3.15 and the rest.
RUN pip install ".[train]" && useradd --create-home tfjobs && mkdir -p /data /artifacts \
    && chown tfjobs /data /artifacts
USER tfjobs
CMD ["tfjobs", "worker", "--concurrency", "1"]
