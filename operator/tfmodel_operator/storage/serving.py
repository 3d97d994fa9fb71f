"""I/O: ask TF Serving which versions of the model it still has loaded, before a version's
directory is removed under it.

The tenant picks TF Serving's image, so its answer is untrusted: one total deadline covers the
whole exchange and the body has a size limit (bounded_http), and anything unexpected means
"cannot tell", which removes nothing.
"""

import http.client
import json
import time
from urllib.parse import quote

from tfmodel_operator.bounded_http import CannotConnect, NoAnswer, exchange
from tfmodel_operator.storage.versions import serving_states

DEADLINE = 5.0  # seconds for the whole exchange


def loaded_states(
    serving_url: str, model_name: str, deadline: float = DEADLINE
) -> dict[int, str] | None:
    """Version -> state from GET {serving_url}/v1/models/{model_name}, None if TF Serving did
    not answer within `deadline` seconds, or not with a model status."""
    url = f"{serving_url.rstrip('/')}/v1/models/{quote(model_name, safe='')}"
    try:
        status, body = exchange(url, time.monotonic() + deadline, None)
        return serving_states(json.loads(body)) if status == 200 else None
    except (
        NoAnswer,
        CannotConnect,
        OSError,
        http.client.HTTPException,
        ValueError,
        RecursionError,
    ):
        return None
