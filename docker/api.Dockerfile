# The API: FastAPI on uvicorn. No TensorFlow in this image (the API never imports it).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/tfjobs
COPY pyproject.toml README.md ./
COPY tfcore ./tfcore
COPY app ./app
COPY worker ./worker
RUN pip install . && useradd --create-home tfjobs && mkdir -p /data /artifacts \
    && chown tfjobs /data /artifacts
USER tfjobs
EXPOSE 8000
CMD ["tfjobs", "api", "--host", "0.0.0.0", "--port", "8000"]
