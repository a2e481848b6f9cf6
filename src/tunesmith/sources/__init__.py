"""Canonical corpora at pinned commits: their manifests and verified downloads.

- `tunesmith.sources.manifest`: read a manifest (repository, commit, archive and
  one-file URLs, one ``path sha256 bytes`` line per file) and choose subsets.
- `tunesmith.sources.download`: `fetch_manifest_files`, the generic downloader
  (pooch, a cache, a mirror, resumable, every kept file verified).

The manifests of tunesmith's corpora (``nottingham``, ``essen``, ``classical``,
``bl``) ship in ``sources/manifests/`` as package data.
"""
