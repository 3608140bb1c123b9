"""External providers of the agents (site deploys, LLM copy), each behind a small protocol.

Chosen by settings: ``get_deploy_provider()`` and ``get_llm_copywriter()``. Failures are
``ProviderError`` subclasses flagged ``retryable`` so callers can map them onto the engine.
"""

from agents.page_copy import PAGE_COPY_SCHEMA, page_copy_problems, validate_page_copy

from .deploy import DeployProvider, DeployResult, LocalDeployProvider, VercelDeployProvider, get_deploy_provider
from .errors import ProviderError, ProviderPermanentError, ProviderRetryableError
from .llm import ChatCompletionsCopywriter, get_llm_copywriter

__all__ = [
    "PAGE_COPY_SCHEMA",
    "ChatCompletionsCopywriter",
    "DeployProvider",
    "DeployResult",
    "LocalDeployProvider",
    "ProviderError",
    "ProviderPermanentError",
    "ProviderRetryableError",
    "VercelDeployProvider",
    "get_deploy_provider",
    "get_llm_copywriter",
    "page_copy_problems",
    "validate_page_copy",
]
