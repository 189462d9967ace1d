"""The subject's texts: every one in the catalog, translated into every language shipped, compiled as written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from receiver.usecases import subject_texts
from settings import SUBJECT_LANGUAGES

PROJECT = subject_texts.TRANSLATIONS_DIR.parent.parent
TRANSLATED = [language for language in SUBJECT_LANGUAGES if language != "en"]


def extracted(folder: Path) -> set[str]:
    """The texts the templates and the code hold now (what ``make translations`` would extract)."""
    pybabel = [sys.executable, "-m", "babel.messages.frontend"]
    command = [*pybabel, "extract", "-F", "receiver/translations/babel.cfg", "-k", "N_", "-k", "translate:2"]
    subprocess.run([*command, "-o", str(folder / "now.pot"), "."], cwd=PROJECT, capture_output=True, check=True)
    with (folder / "now.pot").open("rb") as source:
        return {message.id for message in read_po(source) if message.id}


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_text_is_translated_and_the_compiled_catalog_is_the_written_one(language, tmp_path):
    folder = subject_texts.TRANSLATIONS_DIR / language / "LC_MESSAGES"
    with (folder / "messages.po").open("rb") as source:
        written = {message.id: message.string for message in read_po(source) if message.id}
    with (folder / "messages.mo").open("rb") as source:
        compiled = {message.id: message.string for message in read_mo(source) if message.id}
    assert set(written) == extracted(tmp_path), "run make translations and translate what is new"
    assert all(written.values()), [text for text, translation in written.items() if not translation]
    assert compiled == written, "run make translations: messages.mo is older than messages.po"


def test_translated_texts_keep_their_placeholders():
    for language in TRANSLATED:
        text = subject_texts.translate(language, "Your answer from %(controller)s", controller="Acme")
        assert text == "Uw antwoord van Acme"


def test_sizes_read_as_a_file_manager_shows_them():
    assert [subject_texts.readable_size(size) for size in (812, 1_400, 2_485_000, 3 * 10**9, 5 * 10**12)] == [
        "812 bytes",
        "1.4 kB",
        "2.5 MB",
        "3.0 GB",
        "5.0 TB",
    ]
