"""The page the service serves at ``/``: static files shipped inside the package.

Nothing is fetched from elsewhere: socket.io-client's browser build is vendored under
``static/vendor`` (its version pinned by ``clients/js/package-lock.json``, checked by a test),
and the page's client module is ``clients/js/audio-service-client.js`` itself.
"""
