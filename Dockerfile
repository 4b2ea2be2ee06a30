FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN useradd --create-home --uid 1000 app
COPY pyproject.toml README.md ./
COPY src ./src
# The page serves clients/js/audio-service-client.js (linked from src/.../web/static).
COPY clients/js/audio-service-client.js ./clients/js/
RUN pip install .
USER app
EXPOSE 8000
# One process serves REST and Socket.IO. Per-message deflate off: small JSON events.
# --no-proxy-headers: only TRUSTED_PROXIES may set the client address (rate limiting).
CMD ["uvicorn", "audio_service.main:asgi_app", "--host", "0.0.0.0", "--port", "8000", \
     "--ws-per-message-deflate", "false", "--ws-max-size", "65536", "--no-proxy-headers", \
     "--ws", "audio_service.websocket.lean:LeanWebSocketProtocol"]
