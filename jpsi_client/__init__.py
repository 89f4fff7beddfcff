"""Python client of the jpsi-sidis service: tables in, tables out.

```python
from jpsi_client import Client

with Client("http://127.0.0.1:8000") as c:
    df = c.exact(points)        # DataFrame: x, z, Q, PT, valid, y, <outputs>, reasons, flags
```

Needs only httpx, numpy, pandas, pyarrow and tqdm (``pip install 'jpsi-sidis[client]'``);
it imports nothing else of this project. See docs/client.md.
"""

from jpsi_client.client import OUTPUTS, AsyncClient, Client
from jpsi_client.errors import (
    BadRequest,
    JpsiError,
    JpsiHTTPError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
    ValidationFailed,
)

__all__ = [
    "OUTPUTS",
    "AsyncClient",
    "BadRequest",
    "Client",
    "JpsiError",
    "JpsiHTTPError",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServerError",
    "TransportError",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
    "ValidationFailed",
]
