"""The data subject's side: the answer's page and its download, no account needed, the link's secret in the path.

    GET       /answer/<secret>            a small page: what this is, who sends it, the files, until when
    GET, HEAD /answer/<secret>/download   the ZIP: Range (206), ETag (its SHA-256), Content-Disposition

An unknown secret is 404; a link revoked, expired, used up or whose package was deleted is
410, with a page saying whom to contact (``CONTROLLER_CONTACT``). Every answer here is
``no-store``, sends no referrer (the secret is in the URL) and asks not to be indexed; each
address may make ``SUBJECT_RATE_LIMIT`` requests (Flask-Limiter, as the refusal limit is
kept). The access log writes the path without the secret (``receiver.web.context``).

A download is recorded when its response ends (``subject_links.record_download``): the bytes
the server wrote, and complete when they reached the package's last byte, so a download
resumed with ``Range`` completes when its last range does. HEAD sends the headers alone and
records nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from flask import Blueprint, Flask, Response, g, render_template, request
from flask_babel import Babel  # type: ignore[import-untyped]  # Flask-Babel ships no type information
from flask_limiter import Limiter, RateLimitExceeded

from receiver.services import Services
from receiver.usecases import subject_links, subject_texts
from receiver.usecases.subject_links import LinkGone, SubjectLink
from receiver.web.current import services
from storage.errors import StorageError

blueprint = Blueprint(
    "subject", __name__, url_prefix=subject_links.ANSWER_PATH.rstrip("/"), template_folder="templates"
)
CHUNK_BYTES = 256 * 1024
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
}


def register_subject_pages(app: Flask, limiter: Limiter) -> None:
    """The blueprint, its per-address limit, and Flask-Babel choosing the link's language."""
    settings = app.extensions["services"].settings
    Babel(
        app,
        locale_selector=lambda: g.get("subject_language") or settings.subject_default_language,
        default_translation_directories=str(subject_texts.TRANSLATIONS_DIR),
    )
    app.jinja_env.filters["subject_size"] = subject_texts.readable_size
    limiter.shared_limit(settings.subject_rate_limit, scope="subject-answer")(blueprint)
    app.register_blueprint(blueprint)


@blueprint.context_processor
def _language() -> dict[str, str]:
    return {"subject_language": g.get("subject_language") or services().settings.subject_default_language}


@blueprint.after_request
def _never_kept_nor_referred(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


@blueprint.errorhandler(RateLimitExceeded)
def _too_many(error: RateLimitExceeded) -> tuple[str, int, dict[str, str]]:
    window = max(1, int(error.limit.limit.get_expiry())) if error.limit else 60
    return render_template("subject/too_many.html", **_controller()), 429, {"Retry-After": str(window)}


@blueprint.get("/<secret>")
def page(secret: str) -> tuple[str, int]:
    found = subject_links.find_link(services(), secret)
    if not isinstance(found, SubjectLink):
        return _not_working(found)
    g.subject_language = found.language
    return render_template("subject/answer.html", link=found, **_controller()), 200


@blueprint.route("/<secret>/download", methods=["GET", "HEAD"])
def download(secret: str) -> Response | tuple[str, int]:
    svc = services()
    found = subject_links.find_link(svc, secret)
    if not isinstance(found, SubjectLink):
        return _not_working(found)
    total, etag = found.package_bytes, found.package_sha256
    start, end, status = _wanted_range(total, etag)
    if status == 416:
        return Response(status=416, headers={"Content-Range": f"bytes */{total}"})
    body: _Download | list[bytes] = []
    if request.method != "HEAD":
        try:
            source = svc.archive_store.open_from(found.package_uri, start)
        except StorageError as error:
            if error.reason != "not_found":
                raise
            return _not_working(LinkGone(found.language, "deleted"))
        body = _Download(svc, found, source, start, end, request.remote_addr)
    response = Response(body, status=status, mimetype="application/zip", direct_passthrough=True)
    response.headers["Content-Length"] = str(end - start)
    response.headers["Accept-Ranges"] = "bytes"
    response.set_etag(etag)
    response.headers.set("Content-Disposition", "attachment", filename=f"answer-{found.built_at.date()}.zip")
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{total}"
    return response


def _wanted_range(total: int, etag: str) -> tuple[int, int, int]:
    """``(start, end, status)``: the whole package (200), the one range asked for (206), or 416.

    Several ranges, or an ``If-Range`` naming another version, get the whole package."""
    asked = request.range
    if asked is None or asked.units != "bytes" or len(asked.ranges) != 1:
        return 0, total, 200
    if_range = request.if_range
    if (if_range.etag is not None and if_range.etag != etag) or if_range.date is not None:
        return 0, total, 200
    bounds = asked.range_for_length(total)
    if bounds is None:
        return 0, total, 416
    return bounds[0], bounds[1], 206


class _Download:
    """The package's bytes ``start`` to ``end`` as the response's body; the download is recorded when the server
    closes it (WSGI calls ``close`` whether the response ended or the client went away).

    A chunk counts once the server asks for the next one (it wrote the one before), so a client
    that goes away mid-chunk leaves that chunk uncounted."""

    def __init__(
        self, svc: Services, link: SubjectLink, source: BinaryIO, start: int, end: int, address: str | None
    ) -> None:
        self._svc, self._link, self._source = svc, link, source
        self._start, self._end, self._address = start, end, address
        self._sent = 0
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        wanted = self._end - self._start
        while self._sent < wanted:
            chunk = self._source.read(min(CHUNK_BYTES, wanted - self._sent))
            if not chunk:
                return
            yield chunk
            self._sent += len(chunk)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._source.close()
        subject_links.record_download(
            self._svc, self._link, first_byte=self._start, bytes_sent=self._sent, client_address=self._address
        )


def _not_working(found: LinkGone | None) -> tuple[str, int]:
    if found is None:
        return render_template("subject/not_found.html", **_controller()), 404
    g.subject_language = found.language
    return render_template("subject/gone.html", reason=found.reason, **_controller()), 410


def _controller() -> dict[str, str]:
    settings = services().settings
    return {"controller": settings.controller_name or "", "contact": settings.controller_contact or ""}
