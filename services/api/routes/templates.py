"""Reply templates of the account, texts per language (000, 001, 002, 003)."""

from __future__ import annotations

from fastapi import APIRouter

from services.api import models as m
from services.api.deps import AnyUser, Commander, Conn, Deps
from services.api.problems import responses
from services.store import templates

router = APIRouter(prefix="/v1/templates", tags=["templates"], responses=responses(400, 401, 422, 429))


@router.get("", response_model=list[m.TemplateOut])
def list_templates(user: AnyUser, conn: Conn, deps: Deps) -> list[m.TemplateOut]:
    """The account's own templates, then the built-in ones (when the build has them)."""
    out = [m.TemplateOut(**t) for t in templates.of_merchant(conn, user.merchant_id)]
    if deps.builtin_templates is not None:
        out += [m.TemplateOut(**{**t, "source": "builtin"}) for t in deps.builtin_templates()]
    return out


@router.post("", status_code=201, response_model=m.TemplateOut, responses=responses(403))
def save_template(body: m.TemplateIn, user: Commander, conn: Conn) -> m.TemplateOut:
    """Create or replace the account's template of that name (owners and agents)."""
    conn.rollback()
    templates.save(conn, user.merchant_id, body.name, body.category, dict(body.texts))
    return m.TemplateOut(name=body.name, category=body.category, source="merchant", texts=dict(body.texts))
