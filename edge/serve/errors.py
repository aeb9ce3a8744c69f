"""What a front end answers for a request it cannot serve: a status code and one line saying why."""


class RequestError(Exception):
    """A request refused with an HTTP status (400 bad input, 413 too large, 503 busy, ...) and a message.

    headers: more (name, value) pairs for the answer (Retry-After, WWW-Authenticate).
    """

    def __init__(self, code, message, headers=()):
        super(RequestError, self).__init__(message)
        self.code = code
        self.message = message
        self.headers = tuple(headers)


RETRY_AFTER_S = 1   # what a refused client is told to wait (Retry-After), in seconds


def busy(message):
    """503 with Retry-After: the queue is full, or the service is shutting down."""
    return RequestError(503, message, headers=(("Retry-After", str(RETRY_AFTER_S)),))
