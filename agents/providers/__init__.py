"""External providers of the agents (site deploys, LLM copy), each behind a small protocol.

Chosen by settings: ``get_deploy_provider()`` and ``get_llm_copywriter()``. Failures are
``ProviderError`` subclasses flagged ``retryable`` so callers can map them onto the engine.
"""

from .deploy import DeployProvider, DeployResult, LocalDeployProvider, VercelDeployProvider, get_deploy_provider
from .errors import ProviderError, ProviderPermanentError, ProviderRetryableError
from .llm import PAGE_COPY_SCHEMA, ChatCompletionsCopywriter, get_llm_copywriter, validate_page_copy

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
    "validate_page_copy",
]
