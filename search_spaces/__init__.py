"""Built-in search spaces, one module each; importing this package registers them."""

from search_spaces import scratch_cnn  # noqa: F401
