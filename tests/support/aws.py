"""moto run as a real HTTP server on loopback, driven through aiobotocore as production drives AWS."""

from __future__ import annotations

import urllib.request

REGION = "us-east-1"
# moto accepts any credentials; these only keep botocore from searching the machine for real ones.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
}


def reset_moto(endpoint: str) -> None:
    """Forget every queue, topic and message moto holds."""
    url = f"{endpoint}/moto-api/reset"  # always http://127.0.0.1:PORT
    request = urllib.request.Request(url, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        response.read()
