"""The console's forms: fields and their labels, the CSRF token, and the documents they become.

The rules of what is valid live once, in the use cases' pydantic documents
(``receiver.usecases.documents``): a form here only carries what was typed. A
form becomes the same JSON document the API takes (``document()``), and a use
case's refusal comes back to the field it names (``show_refusal``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, ClassVar

from flask_wtf import FlaskForm
from pydantic.alias_generators import to_camel
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.core import Field

from receiver.usecases.cases import GDPR_APPLIES_FROM
from receiver.usecases.documents import GET_KINDS, JURISDICTIONS, MESSAGEBIRD_FIELDS, PERSONAL_KINDS, RIGHTS
from receiver.usecases.documents import KINDS as REQUEST_KINDS
from receiver.usecases.errors import UseCaseError
from receiver.web.current import services


def _kind_choice(kind: str) -> SelectChoice:
    """``Access: the data held about a value (KIND_PERSONAL_GET)``: what the kind asks, of whose data."""
    asked = "Access" if kind in GET_KINDS else "Erasure"
    whose = "the data held about a value" if kind in PERSONAL_KINDS else "the account's own data"
    return SelectChoice(kind, f"{asked}: {whose} ({kind})")


KINDS = [_kind_choice(kind) for kind in REQUEST_KINDS]


def _today() -> dt.date:
    """A date field's default: today by the service's clock."""
    return services().clock.today()


class DocumentForm(FlaskForm):
    """A form whose fields are a use case's document; ``wire`` renames a field where the document differs."""

    wire: ClassVar[Mapping[str, str]] = {}

    def document(self) -> dict[str, Any]:
        """The typed values as the API's JSON document: camelCase names, dates as ISO text, blanks left out."""
        document: dict[str, Any] = {}
        for field in self:
            if field.short_name == "csrf_token" or field.data in (None, ""):
                continue
            value = field.data.isoformat() if isinstance(field.data, dt.date) else field.data
            document[self.wire.get(field.short_name, to_camel(field.short_name))] = value
        return document

    def show_refusal(self, refused: UseCaseError) -> None:
        """Put the use case's description on the field it names, or above the form."""
        named = {self.wire.get(field.short_name, to_camel(field.short_name)): field for field in self}
        field: Field | None = named.get(refused.parameter or "")
        if field is not None:
            field.errors = [*field.errors, refused.message]
        else:
            self.form_errors.append(refused.message)


class SignInForm(FlaskForm):
    token = PasswordField("API token", render_kw={"autocomplete": "current-password", "spellcheck": "false"})
    next = HiddenField()


class CaseForm(DocumentForm):
    subject_ref = StringField(
        "Subject reference", description="Your ticket or reference; never an e-mail address or phone number."
    )
    right = SelectField("Right", choices=[SelectChoice(r, r.capitalize()) for r in RIGHTS])
    received_on = DateField("Received on", default=_today, render_kw={"min": GDPR_APPLIES_FROM.isoformat()})
    jurisdiction = SelectField("Jurisdiction", choices=[SelectChoice(j) for j in JURISDICTIONS], default="UK")
    clock_starts_on = DateField(
        "Clock starts on (UK only)",
        description="The latest of receipt, identity confirmed and fee paid, when later than receipt.",
    )
    notes = TextAreaField("Notes")


class ExtendForm(DocumentForm):
    reason = TextAreaField("Reason given to the data subject")
    informed_on = DateField("Subject informed on", default=_today)


class PauseForm(DocumentForm):
    reason = StringField("Why the clock stops", description="E.g. identity to be confirmed, clarification asked.")
    date = DateField("Stopped since", default=_today)


class ResumeForm(DocumentForm):
    date = DateField("Runs again from", default=_today)


class CloseForm(DocumentForm):
    responded_on = DateField("Answer sent on", default=_today)
    delivered_by = StringField("Sent by", description="How the answer went out, e.g. secure email.")
    override_reason = TextAreaField(
        "Close with requests still open, because", description="Only when a processor request has not ended."
    )


class MessageBirdRequestForm(DocumentForm):
    kind = SelectField("Kind", choices=KINDS)
    field = SelectField(
        "Field",
        choices=[SelectChoice("", "(none: account kinds)")] + [SelectChoice(f) for f in MESSAGEBIRD_FIELDS],
        default="email",
    )
    value = StringField(
        "Value",
        description="Sent to MessageBird and never kept: only a keyed hash is stored.",
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    reason = StringField("Reason", default="Data subject request")


class ForgetForm(DocumentForm):
    number = StringField(
        "UK number",
        description="Digits only, beginning with 44. Sent to VoodooSMS and never kept.",
        render_kw={"autocomplete": "off", "inputmode": "numeric"},
    )
    blacklist = BooleanField("Also remove it from the account's blacklist")
    reason = StringField("Reason", default="Data subject request")


class LegalHoldForm(DocumentForm):
    reason = TextAreaField(
        "Why the archives must be kept",
        description="E.g. a claim or a regulator's inquiry (GDPR Art. 17(3)(e)). Shown in the case's history.",
    )


class ReleaseHoldForm(DocumentForm):
    reason = TextAreaField("Why the hold ends (optional)")


class LinkForm(DocumentForm):
    """A link for the data subject (``POST /api/cases/<id>/package/links``)."""

    max_downloads = IntegerField("Complete downloads allowed", default=5, description="1 to 20.")
    expires_in_days = IntegerField("Works for (days)", default=14, description="1 to 90.")
    email = StringField(
        "E-mail it to",
        description="Optional: the subject's address. It is used to send and never kept: only a keyed hash is stored.",
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    language = SelectField("Language", choices=[SelectChoice("en", "English"), SelectChoice("nl", "Nederlands")])
