# Folio. CPU torch by default; CUDA by build argument, e.g.
#   docker build --build-arg TORCH_VARIANT=cu128 -t folio:cuda .
# (TORCH_VARIANT names a wheel index of download.pytorch.org/whl/ that publishes torch 2.13.0.)
# Not built on the development machine (no docker there): see docs/deployment.md.
FROM python:3.11-slim

ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX=https://download.pytorch.org/whl/${TORCH_VARIANT}
ENV PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    ANONYMIZED_TELEMETRY=False \
    RAGAS_DO_NOT_TRACK=true \
    FOLIO_HOST=0.0.0.0 \
    FOLIO_PORT=7860 \
    FOLIO_DATA_DIR=/var/lib/folio/data \
    FOLIO_DB=/var/lib/folio/feedback.db

WORKDIR /app
COPY requirements.txt constraints.txt ./
# torch first and alone, from the chosen wheel index; then the rest under the constraints.
RUN pip install --no-cache-dir torch==2.13.0 --index-url "$TORCH_INDEX" \
 && pip install --no-cache-dir -r requirements.txt -c constraints.txt
COPY rag_core ./rag_core
COPY ui ./ui
COPY api ./api
COPY app.py ./

RUN useradd --system --uid 10001 --home-dir /var/lib/folio folio \
 && mkdir -p /var/lib/folio/data && chown -R folio /var/lib/folio
USER folio
VOLUME /var/lib/folio
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=4)"
CMD ["python", "app.py"]
