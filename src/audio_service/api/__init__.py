"""The REST API (FastAPI): one route module per resource."""
