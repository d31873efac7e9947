"""lethe-client: ingest interactions into Lethe from an AI service (sync and asyncio).

>>> from lethe_client import LetheClient, Interaction
>>> with LetheClient() as lethe:          # mutual TLS as `client`, settings from the environment
...     lethe.ingest([Interaction(account_id="acct-1", prompt="hi", region="EU")])
"""

from lethe_client.aio import AsyncBatcher, AsyncLetheClient
from lethe_client.config import ClientConfig, ConfigError
from lethe_client.model import IngestResult, Interaction
from lethe_client.sync import Batcher, LetheClient

__all__ = ["AsyncBatcher", "AsyncLetheClient", "Batcher", "ClientConfig", "ConfigError",
           "IngestResult", "Interaction", "LetheClient"]
