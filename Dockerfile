# Folio, CPU by default. For CUDA: docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 .
FROM python:3.11-slim

ARG TORCH_INDEX=""
ENV PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    ANONYMIZED_TELEMETRY=False \
    FOLIO_HOST=0.0.0.0 \
    FOLIO_PORT=7860 \
    FOLIO_DATA_DIR=/var/lib/folio/data \
    FOLIO_DB=/var/lib/folio/feedback.db

WORKDIR /app
COPY requirements.txt constraints.txt ./
# torch first and alone: the CPU build unless a CUDA index is given.
RUN if [ -n "$TORCH_INDEX" ]; then pip install --no-cache-dir torch==2.13.0 --index-url "$TORCH_INDEX"; \
    else pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu; fi \
 && pip install --no-cache-dir -r requirements.txt -c constraints.txt
COPY rag_core ./rag_core
COPY ui ./ui
COPY app.py ./

VOLUME /var/lib/folio
EXPOSE 7860
CMD ["python", "app.py"]
