"""Who is calling: a project's API key, or the operator's admin key."""

from __future__ import annotations

from dataclasses import dataclass

from claude_code_api.errors import PermissionDeniedError


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request."""

    key_id: str
    project_id: str | None  # None for the admin key: it may act for any project
    rate_limit: int
    is_admin: bool = False
    max_tier: str | None = None  # highest model tier this key may use (None: any)

    def project_for(self, requested: str | None) -> str:
        """The project a request acts on; a project key may only name its own project.

        Raises :class:`PermissionDeniedError` (403) on a mismatch. The message names only the
        requested project, never anything about other keys.
        """
        if self.is_admin:
            if not requested:
                raise PermissionDeniedError(
                    "The admin key must name a project_id.", param="project_id"
                )
            return requested
        assert self.project_id is not None
        if requested and requested != self.project_id:
            raise PermissionDeniedError(
                f"This API key cannot act on project '{requested}'.", param="project_id"
            )
        return self.project_id
