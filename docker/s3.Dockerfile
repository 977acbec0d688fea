# An S3-compatible server for `docker compose --profile s3`: moto's, from PyPI (the public
# MinIO or Ceph images are the production choice; point TFJOBS_S3_ENDPOINT_URL at them).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ARG PIP_INDEX_URL
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install "moto[server]>=5.0" && useradd --create-home --uid 10002 s3
USER s3
EXPOSE 5000
CMD ["moto_server", "-H", "0.0.0.0", "-p", "5000"]   # compose's s3 service also creates its bucket
