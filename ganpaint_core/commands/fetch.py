"""``python -m ganpaint_core fetch church``: download a registered model's files into the cache ahead of time."""

from __future__ import annotations


def add_arguments(p):
    from ganpaint_core.models.registry import registry

    p.add_argument("names", nargs="*", metavar="MODEL", help=f"registered models: {', '.join(registry())}")
    p.add_argument("--all", action="store_true", help="every registered model")
    p.add_argument("--list", action="store_true", help="list the registered models and whether their files are "
                                                       "in the cache; download nothing")


def run(args):
    from ganpaint_core.models import hub
    from ganpaint_core.models.registry import lookup, registry

    names = list(registry()) if args.all or (args.list and not args.names) else args.names
    if not names:
        raise ValueError(f"name a registered model ({', '.join(registry())}) or give --all")
    entries = [lookup(name) for name in names]          # every name is checked before anything downloads
    folder = hub.cache_dir()
    for entry in entries:
        for remote in entry.files:
            path = folder / remote.file
            if args.list:
                state = f"{path.stat().st_size / 2**20:.1f} MiB in the cache" if path.is_file() else "not cached"
                print(f"{entry.name}: {remote.file} ({state}) {remote.url}")
                continue
            path = hub.fetch(remote)
            print(f"{entry.name}: {path} ({path.stat().st_size / 2**20:.1f} MiB)")
