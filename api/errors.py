"""The one error boundary: a ``BrokerError`` anywhere in a resource becomes the cshis6 envelope.

Every domain outcome is HTTP 200 with an integer ``statusCode`` (existing
clients call ``raise_for_status()`` and then read it). The message is the
manual's text; for a bad parameter (1704) and the settings' refusals (16xx:
a bad ``.SAM`` file, an unknown reader) it also says what was wrong, because
the manual's text alone cannot.
"""

from __future__ import annotations

from typing import Any

import falcon

from broker.codes import Code
from broker.errors import BrokerError

# Codes whose message names what was wrong: the manual's text is only a category.
DETAILED = frozenset(code for code in Code if code is Code.INVALID_PARAMETER or 1600 <= code < 1700)


def refused(error: BrokerError) -> dict[str, Any]:
    """The reply to a refusal: its code, the manual's message, and what went wrong."""
    message = error.code.message
    if error.code in DETAILED and error.detail:
        message = f"{message}: {error.detail}"
    body: dict[str, Any] = {"statusCode": int(error.code), "message": message}
    if error.detail:
        body["detail"] = error.detail
    return body


def broker_error(
    req: falcon.Request, resp: falcon.Response, error: BrokerError, _params: dict[str, Any]
) -> None:
    """falcon's handler for the ``BrokerError`` family: HTTP 200 and the envelope."""
    resp.status = falcon.HTTP_200
    resp.media = refused(error)
    req.context.status_code = int(error.code)


def register(app: falcon.App[Any, Any]) -> None:
    """Install the boundary on ``app``."""
    app.add_error_handler(BrokerError, broker_error)
