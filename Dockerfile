# FaceRec in a container: slim Debian, a non-root user, the models inside, the data in /data.
#   docker build -t facerec .
#   docker run -d -p 8000:8000 -v facerec-data:/data facerec
# Debian's own Python (bookworm: 3.11, trixie: 3.13); no compiler: every dependency is a wheel.
# BASE_IMAGE may be any Debian-like image with apt (e.g. one made with debootstrap, see
# tests/test_deploy.py); both stages must use the same one (the venv links its Python).
ARG BASE_IMAGE=debian:bookworm-slim

# ---- build: wheels for the project and every pinned dependency, then a venv from them only
FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# Extra CA certificates (deploy/ca-certificates/*.crt, usually none) for a TLS-re-signing proxy.
COPY deploy/ca-certificates/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_CERT=/etc/ssl/certs/ca-certificates.crt
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY src ./src
RUN python3 -m venv /opt/facerec \
 && /opt/facerec/bin/pip install --upgrade "pip>=24" \
 && /opt/facerec/bin/pip wheel --wheel-dir /wheels -c requirements.lock '.[postgres,classify]' \
 && /opt/facerec/bin/pip install --no-index --find-links /wheels 'facerec[postgres,classify]'
# Convert the dlib models to ONNX once, here: a new volume starts with them (data/models).
RUN FACEREC_DATA_DIR=/data /opt/facerec/bin/python -c \
      "from facerec.config import Settings; from facerec.inference.onnx_engine import OnnxEngine; OnnxEngine(Settings()).load()"

# ---- run: the venv and the converted models; no pip cache, no wheels, no build tools
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 facerec \
 && useradd --system --uid 10001 --gid facerec --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin facerec \
 && mkdir -p /data && chown facerec:facerec /data
COPY --from=build /opt/facerec /opt/facerec
COPY --from=build --chown=facerec:facerec /data /data
# Reachable from outside the container, so access control stays on: FaceRec refuses to start
# on 0.0.0.0 with FACEREC_AUTH__ENABLED=false (auth/exposure.py).
ENV PATH=/opt/facerec/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    FACEREC_DATA_DIR=/data \
    FACEREC_HOST=0.0.0.0 \
    FACEREC_PORT=8000 \
    FACEREC_AUTH__ENABLED=true
USER facerec:facerec
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# Ready = migrations applied, models loaded, index built (/readyz answers 200); no curl needed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python3", "-c", "import os, sys, urllib.request as u; sys.exit(u.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('FACEREC_PORT', '8000'), timeout=4).status != 200)"]
CMD ["facerec", "serve"]
