"""Annotation rules, one module per resource: claims (and the workflow), verdicts (approval and
corrections), evidence, comments and ratings; ``access`` and ``anchoring`` hold what they share."""

from factmark.annotations.service.ratings import create_default_scale

__all__ = ["create_default_scale"]
