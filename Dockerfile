# The same environment as scripts/mlprod-env builds, as a container (Debian 13, Python 3.13).
# Untested in our CI (no Docker engine there); `make test` is the supported path.
FROM debian:trixie-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      python3 python3-venv python3-dev g++ make default-jre-headless ca-certificates procps \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /mlprod
COPY . .
RUN python3 -m venv /opt/mlprod-venv && /opt/mlprod-venv/bin/pip install --no-cache-dir -e ".[dev,docs,bench]"
# TF_USE_LEGACY_KERAS: Beam workers started from this image load SavedModels with Keras 2 (tfmot), as the driver does
ENV PATH=/opt/mlprod-venv/bin:$PATH MLPROD_ENV_MODE=native TF_CPP_MIN_LOG_LEVEL=2 TF_USE_LEGACY_KERAS=1
CMD ["python", "-m", "mlprod.pipelines.demo"]
