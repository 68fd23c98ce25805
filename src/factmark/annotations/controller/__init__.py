"""HTTP routes of annotations, one module per resource."""

from factmark.annotations.controller.claims import ClaimController, DocumentClaimsController
from factmark.annotations.controller.comments import CommentController
from factmark.annotations.controller.evidence import EvidenceController
from factmark.annotations.controller.ratings import RatingController
from factmark.annotations.controller.verdicts import VerdictController

CONTROLLERS = [
    DocumentClaimsController,
    ClaimController,
    VerdictController,
    EvidenceController,
    CommentController,
    RatingController,
]

__all__ = ["CONTROLLERS"]
