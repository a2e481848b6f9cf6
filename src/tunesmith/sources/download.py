"""Verified downloads of the files a manifest pins, with pooch.

pooch does the downloading: a registry of files and their sha256, a cache that is
reused while the hashes match, retries, and a temporary file that only becomes the
cached one when its hash matches. This module adds what pooch does not do:

- resuming an interrupted download from where it stopped (HTTP ``Range``, see
  `ResumableDownloader`);
- taking the selected files out of the repository archive at the pinned commit
  (`tunesmith.sources.archive`),
  safely (no absolute paths, ``..`` or links; members outside the archive's top
  folder and unlisted files of the corpus refuse the whole archive), verifying each
  one against the manifest;
- one clear line for every failure, naming the file, the URL and both digests.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import tarfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from tqdm.auto import tqdm

from tunesmith.core.errors import FetchError
from tunesmith.core.io import atomic_path
from tunesmith.sources.archive import extract_selected, mismatch, refuse
from tunesmith.sources.manifest import Manifest, ManifestFile

logger = logging.getLogger(__name__)

FILES_AT_MOST = 50
"""With ``method="auto"``, at most this many selected files are fetched one by one;
more come from the repository archive in one request."""

_CHUNK = 1 << 16


SUMS = "SHA256SUMS"
"""The file `fetch_manifest_files` writes beside the files: their digests, ``sha256sum -c`` format."""


def fetch_manifest_files(
    manifest: Manifest,
    dest_dir: Path | str,
    *,
    cache_dir: Path | str,
    mirror: str = "",
    select: Iterable[str] | Callable[[str], bool] | None = None,
    method: Literal["auto", "archive", "files"] = "auto",
    progress: bool = True,
    retries: int = 2,
    timeout: float = 60.0,
    jobs: int = 8,
) -> list[Path]:
    """Download the selected files of ``manifest``, verify each one and write them to ``dest_dir``.

    Signature::

        fetch_manifest_files(manifest, dest_dir, *, cache_dir, mirror="", select=None,
                             method="auto", progress=True, retries=2, timeout=60.0,
                             jobs=8) -> list[Path]

    Args:
        manifest: the pinned corpus (`tunesmith.sources.manifest.packaged_manifest`
            ``("bl")``, or `read_manifest` of your own).
        dest_dir: folder to write, replaced as a whole and atomically: on any failure
            it keeps its previous content (or stays absent), never half of the files.
            Each file goes to ``dest_dir / manifest.relative(path)``, its path below
            the manifest's common folder (``bl``: ``dest_dir/JSB_Chorales.mat``), and
            ``dest_dir/SHA256SUMS`` lists them with their verified digests.
        cache_dir: where downloads are kept (``.cache/downloads/<corpus>``):
            ``files/<path>`` one by one, ``archives/<top folder>.tar.gz`` whole,
            ``partial/`` interrupted downloads to resume. A file already cached with
            the pinned sha256 is reused without any request.
        mirror: base URL (``http(s)://host/folder``); when set every file is fetched
            as ``<mirror>/<path>`` (percent-encoded), the manifest's own layout.
        select: the files to take: ``None`` for all, manifest paths, or a predicate
            on the manifest path (e.g. from `Manifest.select`).
        method: ``files`` (one request per file, from the mirror or the pinned
            one-file URL), ``archive`` (the repository archive at the pinned commit,
            keeping only the selected members) or ``auto``: files with a mirror or
            at most `FILES_AT_MOST` files, else the archive.
        progress: show progress bars (bytes for an archive, files otherwise).
        retries: extra attempts per download after a network error or a bad
            digest; each attempt resumes what the previous one received.
        timeout: seconds without data before an attempt fails.
        jobs: parallel downloads in ``files`` mode.

    Returns:
        The written files, in manifest order.

    Raises:
        FetchError: no network (one line, naming the URL), an HTTP error, a file
            whose sha256 or size differs from the manifest (naming it and both
            digests), a selected file missing from the archive, an unexpected
            archive member (outside its top folder, or a file of the corpus the
            manifest does not list), an unsafe member (absolute path, ``..``,
            link, device) or a corrupt archive. The whole corpus is refused:
            nothing is written to ``dest_dir``.
        ValueError: ``select`` names a path the manifest does not list, or
            ``method="archive"`` with a mirror.
    """
    files = _selected(manifest, select)
    mode = _method(method, mirror, len(files))
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest_dir) as tmp:
        tmp.mkdir()
        if mode == "archive":
            _from_archive(manifest, files, tmp, cache_dir, progress=progress, retries=retries, timeout=timeout)
        else:
            _from_files(manifest, files, tmp, cache_dir, mirror=mirror, progress=progress, retries=retries,
                        timeout=timeout, jobs=jobs)
        # what was verified, in `sha256sum -c` format; it also marks the folder as tunesmith's own,
        # so a later fetch may replace it (io.check_replaceable)
        (tmp / SUMS).write_text("".join(f"{f.sha256}  {manifest.relative(f.path)}\n" for f in files),
                                encoding="utf-8")
    logger.info("fetched %d verified %s files (%s) into %s", len(files), manifest.name, mode, dest_dir)
    return [Path(dest_dir) / manifest.relative(f.path) for f in files]


def _selected(manifest: Manifest, select: Iterable[str] | Callable[[str], bool] | None) -> list[ManifestFile]:
    if select is None:
        files = list(manifest.files)
    elif callable(select):
        files = [f for f in manifest.files if select(f.path)]
    else:
        wanted = set(select)
        unknown = sorted(wanted - {f.path for f in manifest.files})
        if unknown:
            raise ValueError(f"select names {len(unknown)} path(s) the {manifest.name} manifest does not list, "
                             f"e.g. {unknown[0]!r}")
        files = [f for f in manifest.files if f.path in wanted]
    if not files:
        raise ValueError(f"select keeps no file of the {manifest.name} manifest")
    return files


def _method(method: str, mirror: str, n_files: int) -> str:
    if method not in ("auto", "archive", "files"):
        raise ValueError(f"method must be auto, archive or files, got {method!r}")
    if mirror and not mirror.startswith(("http://", "https://")):
        raise ValueError(f"mirror must start with http:// or https://, got {mirror!r}")
    if mirror and method == "archive":
        raise ValueError("a mirror serves the files one by one: method must be auto or files with a mirror")
    if method == "auto":
        return "files" if mirror or n_files <= FILES_AT_MOST else "archive"
    return method


def _digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest(), path.stat().st_size


# --------------------------------------------------------------------------- network


def _short_reason(exc: BaseException) -> str:
    text = str(exc)
    errno = re.search(r"\[Errno -?\d+\][^'\")]*", text)
    if errno:
        return errno.group(0).strip()
    return text if len(text) <= 160 else text[:157] + "..."


def _download_error(exc: BaseException, what: str, url: str) -> FetchError:
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return FetchError(f"cannot download {what} from {url}: HTTP {exc.response.status_code} "
                          f"{exc.response.reason}")
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return FetchError(f"cannot download {what} from {url}: no network, or the host cannot be reached "
                          f"({type(exc).__name__}: {_short_reason(exc)})")
    return FetchError(f"cannot download {what} from {url}: {type(exc).__name__}: {_short_reason(exc)}")


class ResumableDownloader:
    """A pooch downloader that resumes an interrupted download.

    pooch calls ``downloader(url, output_file, pooch)``. Bytes arrive in
    ``partial_dir/<hash of url>.part``, which survives a failed attempt or a
    killed process; the next attempt asks for the rest (``Range: bytes=N-``)
    and starts afresh when the server does not honour it. The complete file is
    moved to ``output_file``, where pooch checks its hash. ``received[url]`` is
    the sha256 and size of the last complete download of ``url``, so that a
    digest mismatch can name both digests.
    """

    def __init__(self, partial_dir: Path, *, timeout: float = 60.0, progress: bool = False, desc: str = "") -> None:
        self.partial_dir = Path(partial_dir)
        self.timeout = timeout
        self.progress = progress
        self.desc = desc
        self.received: dict[str, tuple[str, int]] = {}
        self._local = threading.local()
        self._lock = threading.Lock()

    def partial_path(self, url: str) -> Path:
        return self.partial_dir / f"{hashlib.sha256(url.encode()).hexdigest()[:24]}.part"

    def _session(self):
        import requests

        if getattr(self._local, "session", None) is None:
            self._local.session = requests.Session()
        return self._local.session

    def __call__(self, url: str, output_file: str | IO[bytes], pooch: object = None, check_only: bool = False):
        import requests

        session = self._session()
        if check_only:
            return session.head(url, timeout=self.timeout, allow_redirects=True).status_code == 200
        self.partial_dir.mkdir(parents=True, exist_ok=True)
        part = self.partial_path(url)
        have = part.stat().st_size if part.exists() else 0
        # identity: byte ranges must count the bytes stored, not a compressed transfer
        headers = {"Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        with session.get(url, headers=headers, stream=True, timeout=self.timeout) as response:
            if have and response.status_code == 416:  # nothing left past our bytes: a stale partial file
                part.unlink()
                return self(url, output_file, pooch)
            response.raise_for_status()
            resumed = bool(have) and response.status_code == 206 and _range_start(response) == have
            if have and not resumed:
                have = 0
            # keep the bytes that did arrive when the connection drops early (urllib3 would discard them):
            # the length is checked below, and the next attempt asks for the rest
            response.raw.enforce_content_length = False
            length = response.headers.get("Content-Length", "")
            total = have + int(length) if length.isdigit() else None
            with open(part, "ab" if resumed else "wb") as fh, tqdm(
                total=total, initial=have, unit="B", unit_scale=True, desc=self.desc or "download",
                disable=not self.progress, leave=False,
            ) as bar:
                for chunk in response.iter_content(_CHUNK):
                    fh.write(chunk)
                    bar.update(len(chunk))
        digest, size = _digest(part)
        if total is not None and size != total:
            raise requests.ConnectionError(f"the connection closed after {size} of {total} bytes")
        if hasattr(output_file, "write"):
            with open(part, "rb") as fh:
                shutil.copyfileobj(fh, output_file)
            part.unlink()
        else:
            os.replace(part, output_file)
        with self._lock:
            self.received[url] = (digest, size)
        return None


def _range_start(response) -> int:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else -1


@contextlib.contextmanager
def _quiet_pooch() -> Iterator[None]:
    """pooch logs one line per file; the progress bar says it better for a thousand files."""
    import pooch

    log = pooch.get_logger()
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


# --------------------------------------------------------------------------- one by one


def _from_files(manifest: Manifest, files: list[ManifestFile], dest: Path, cache_dir: Path, *, mirror: str,
                progress: bool, retries: int, timeout: float, jobs: int) -> None:
    import pooch
    import requests

    store = pooch.create(
        path=cache_dir / "files",
        base_url="",
        registry={f.path: f"sha256:{f.sha256}" for f in files},
        urls={f.path: manifest.url_of(f.path, mirror) for f in files},
        retry_if_failed=retries,
    )
    downloader = ResumableDownloader(cache_dir / "partial", timeout=timeout)
    # pooch creates a file's folder with os.makedirs(exist_ok=False) when it is missing: two threads
    # fetching into the same new folder race on it, so every folder exists before the threads start
    for folder in {(Path(store.abspath) / f.path).parent for f in files}:
        folder.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()  # no network: do not wait for a thousand refusals

    def one(f: ManifestFile) -> str:
        if stop.is_set():
            return ""
        url = store.get_url(f.path)
        try:
            local = Path(store.fetch(f.path, downloader=downloader))
        except ValueError:  # pooch: the downloaded bytes have another digest
            if url not in downloader.received:
                raise
            return mismatch(f.path, f, *downloader.received[url]) + f" (from {url})"
        except requests.RequestException as exc:
            if isinstance(exc, requests.ConnectionError | requests.Timeout):
                stop.set()
            raise _download_error(exc, f.path, url) from exc
        digest, size = _digest(local)
        if digest != f.sha256 or size != f.size:
            local.unlink()
            return mismatch(f.path, f, digest, size)
        target = dest / manifest.relative(f.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, target)
        return ""

    problems: list[str] = []
    errors: list[FetchError] = []
    with _quiet_pooch(), ThreadPoolExecutor(max_workers=max(1, min(jobs, len(files)))) as pool:
        futures = [pool.submit(one, f) for f in files]
        bar = tqdm(as_completed(futures), total=len(futures), desc=f"download {manifest.name}", unit="file",
                   disable=not progress, leave=False)
        for future in bar:
            try:
                problem = future.result()
            except FetchError as exc:
                errors.append(exc)
                continue
            if problem:
                problems.append(problem)
    if errors:
        raise errors[0]
    if problems:
        raise refuse(manifest, "file(s) differ from the manifest", sorted(problems))


# --------------------------------------------------------------------------- whole archive


def _archive_suffix(url: str) -> str:
    name = PurePosixPath(url.split("?")[0]).name.lower()
    for suffix in (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip"):
        if name.endswith(suffix):
            return suffix
    return ".archive"


def _from_archive(manifest: Manifest, files: list[ManifestFile], dest: Path, cache_dir: Path, *,
                  progress: bool, retries: int, timeout: float) -> None:
    import pooch
    import requests

    name = f"{manifest.archive_top or manifest.name + '-' + manifest.commit}{_archive_suffix(manifest.archive_url)}"
    url = manifest.archive_url
    # No digest for the archive itself (the manifest pins its files): the cached archive is reused
    # as long as it exists, and removed when a member fails verification.
    store = pooch.create(path=cache_dir / "archives", base_url="", registry={name: None}, urls={name: url},
                         retry_if_failed=retries)
    downloader = ResumableDownloader(cache_dir / "partial", timeout=timeout, progress=progress,
                                     desc=f"download {manifest.name}")
    try:
        archive = Path(store.fetch(name, downloader=downloader))
    except requests.RequestException as exc:
        raise _download_error(exc, f"the {manifest.name} archive", url) from exc
    try:
        extract_selected(archive, manifest, files, dest)
    except FetchError as exc:
        archive.unlink(missing_ok=True)
        raise FetchError(f"{exc} (archive {url}, removed from the cache {archive})") from exc
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as exc:
        archive.unlink(missing_ok=True)
        raise FetchError(f"corrupt or truncated archive {url} ({type(exc).__name__}: {exc}); removed from the "
                         f"cache {archive}, the next run downloads it again") from exc
