"""factmark: an async REST backend for fact-checking."""

__version__ = "0.1.0"
