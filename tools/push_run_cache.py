"""``dvc push --run-cache``, plus the outputs that the run-cache's entries name.

DVC 3's ``dvc push --run-cache`` sends the run-cache's entries (which command, deps and params made
which outputs) but only the outputs of the workspace's own stages, and never a ``cache: false``
output (metrics files, loss curves; DVC keeps a copy of them in the cache for the run-cache). On
another machine ``dvc repro --pull`` then finds the entry but not all of its outputs, and runs
the stage again. This pushes every output an entry names that the local cache holds:

    python tools/push_run_cache.py [--remote NAME] [--jobs N]

tests/test_remote.py runs it against a WebDAV server; docs/team.md says when to.
"""

from __future__ import annotations

import argparse
import os
import sys


def run_cache_entries(cache_dir: str) -> list[tuple[str, str]]:
    """(key, value) of every entry under the run-cache folder ``cache_dir`` (``<xx>/<key>/<value>``)."""
    found = []
    for prefix in sorted(os.listdir(cache_dir)) if os.path.isdir(cache_dir) else []:
        for key in sorted(os.listdir(os.path.join(cache_dir, prefix))):
            found.extend((key, value) for value in sorted(os.listdir(os.path.join(cache_dir, prefix, key))))
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-r", "--remote", default=None, help="the DVC remote (default: core.remote)")
    p.add_argument("-j", "--jobs", type=int, default=None, help="parallel transfers")
    args = p.parse_args(argv)
    from dvc.repo import Repo

    with Repo() as repo:
        pushed = repo.push(run_cache=True, remote=args.remote, jobs=args.jobs)
        entries = run_cache_entries(repo.stage_cache.cache_dir)
        failed = 0
        for objs in repo.stage_cache.get_used_objs(entries).values():
            result = repo.cloud.push(objs, jobs=args.jobs, remote=args.remote)
            pushed += len(result.transferred)
            failed += len(result.failed)
    print(f"{pushed} files and run-cache entries pushed; {len(entries)} run-cache entries' outputs checked"
          + (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
