"""The Socket.IO side of the service: handlers (``server.py``) and fan-out (``hub.py``)."""
