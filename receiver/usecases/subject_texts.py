"""What the data subject reads, in their language: the package's index and letter, the link's e-mail.

One message catalog serves every text the subject sees (``receiver/translations``,
gettext: English is the source, Dutch is shipped): the web page through Flask-Babel,
and what a use case or job writes (the package's ``index.html``, the confirmation
letter, the e-mail) through this module's Jinja environments, one per language, with
Babel's ``Translations`` installed. Templates say ``_("text %(name)s", name=...)``; Python marks
its texts with ``N_`` (translated where they are shown) or translates them with ``translate``.
``make translations`` extracts the catalog's template (``messages.pot``) and compiles each
language's ``messages.po`` into the ``messages.mo`` read at run time.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2
from babel.support import NullTranslations, Translations

from settings import SUBJECT_LANGUAGES
from storage.registry import DELETE_KINDS, GET_KINDS, VOODOOSMS_FORGET

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates" / "subject"
DOMAIN = "messages"


def N_(message: str) -> str:
    return message


#: What each right asks of the Controller, with its article (GDPR).
RIGHTS = {
    "access": N_("a copy of your personal data (GDPR Art. 15(3))"),
    "portability": N_("your personal data in a machine-readable format (GDPR Art. 20)"),
    "erasure": N_("the erasure of your personal data (GDPR Art. 17)"),
    "rectification": N_("the rectification of your personal data (GDPR Art. 16)"),
    "restriction": N_("the restriction of the processing of your personal data (GDPR Art. 18)"),
    "objection": N_("to stop processing your personal data, on your objection (GDPR Art. 21)"),
}
#: What each kind of processor request asked.
ASKED: dict[str, str] = {
    **dict.fromkeys(GET_KINDS, N_("a copy of the personal data it holds about you")),
    **dict.fromkeys(DELETE_KINDS, N_("to erase the personal data it holds about you")),
    VOODOOSMS_FORGET: N_("to forget your phone number"),
}
PROCESSORS = {"messagebird": "MessageBird", "voodoosms": "VoodooSMS"}


def translations(language: str) -> NullTranslations:
    """The catalog of ``language`` (English, the source, needs none)."""
    if language not in SUBJECT_LANGUAGES:
        raise ValueError(f"no texts in {language!r}")
    return Translations.load(str(TRANSLATIONS_DIR), [language], DOMAIN)


@functools.lru_cache(maxsize=len(SUBJECT_LANGUAGES))
def _environment(language: str) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        keep_trailing_newline=True,
    )
    environment.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    environment.globals.update(rights=RIGHTS, asked=ASKED, processors=PROCESSORS, language=language)
    environment.filters["size"] = readable_size
    return environment


def render(template: str, language: str, **context: Any) -> str:
    return _environment(language).get_template(template).render(**context)


def translate(language: str, message: str, **values: Any) -> str:
    """``message`` in ``language``, its ``%(name)s`` filled from ``values``."""
    text: str = translations(language).ugettext(message)
    return text % values if values else text


def readable_size(size: int) -> str:
    """``1.4 MB``, ``812 bytes``: a size as a person reads it (decimal units, as file managers show)."""
    if size < 1000:
        return f"{size} bytes"
    value = float(size)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if value < 1000:
            return f"{value:.1f} {unit}"
    return f"{value / 1000:.1f} TB"
