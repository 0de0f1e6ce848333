#!/usr/bin/env python3
"""Checks the workspace's shape mechanically (run by scripts/check):

- no `.rs` file under `crates/*/src` is longer than MAX_LINES;
- inside each crate, the top-level modules import each other without a cycle (doc links and
  comments do not count);
- the crates form the documented layers (docs/architecture.md): each crate depends only on the
  workspace crates listed for it in LAYERS, and the sans-IO crates do not depend on tokio.

Prints one line per finding and exits 1 if there is any; prints a summary and exits 0 if not.
"""
import pathlib
import re
import sys
import tomllib

MAX_LINES = 450
# crate -> the workspace crates it may depend on (normal dependencies).
LAYERS = {
    "groupcast-base": set(),
    "groupcast-wire": {"groupcast-base"},
    "groupcast-api": {"groupcast-base"},
    "groupcast-grouping": {"groupcast-base"},
    "groupcast-core": {"groupcast-base", "groupcast-wire"},
    "groupcast-source": {"groupcast-base", "groupcast-wire"},
    "groupcast-sim": {"groupcast-base", "groupcast-wire", "groupcast-core", "groupcast-grouping",
                      "groupcast-source"},
    "groupcast-manager": {"groupcast-base", "groupcast-api", "groupcast-grouping", "groupcast-wire"},
    "groupcast": None,  # the CLI crate on top may use every crate
}
SANS_IO = {"groupcast-base", "groupcast-wire", "groupcast-core", "groupcast-source",
           "groupcast-grouping", "groupcast-sim", "groupcast-api"}
USE = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")


def top_module(src: pathlib.Path, f: pathlib.Path) -> str:
    rel = f.relative_to(src)
    if len(rel.parts) == 1:
        return "" if rel.stem in ("lib", "main") else rel.stem
    return rel.parts[0]


def find_cycle(graph: dict) -> list:
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return []


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent.parent
    problems, files, crates = [], 0, 0
    for manifest in sorted(root.glob("crates/*/Cargo.toml")):
        crates += 1
        meta = tomllib.loads(manifest.read_text())
        name = meta["package"]["name"]
        deps = set(meta.get("dependencies", {}))
        allowed = LAYERS.get(name, set())
        if name not in LAYERS:
            problems.append(f"{name}: not placed in a layer (add it to scripts/layers.py and docs/architecture.md)")
        elif allowed is not None:
            for d in sorted(x for x in deps if x.startswith("groupcast") and x not in allowed):
                problems.append(f"{name} depends on {d}, which is not below it")
        if name in SANS_IO and "tokio" in deps:
            problems.append(f"{name} is sans-IO but depends on tokio")
        src = manifest.parent / "src"
        graph = {}
        for f in sorted(src.rglob("*.rs")):
            files += 1
            text = f.read_text()
            n = text.count("\n")
            if n > MAX_LINES:
                problems.append(f"{f.relative_to(root)}: {n} lines (at most {MAX_LINES})")
            me = top_module(src, f)
            if not me:
                continue
            code = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("//"))
            for target in USE.findall(code):
                if target != me:
                    graph.setdefault(me, set()).add(target)
        cycle = find_cycle(graph)
        if cycle:
            problems.append(f"{name}: import cycle between modules {' -> '.join(cycle)}")
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"layers: {crates} crates in their layers, no module cycle, {files} files of at most {MAX_LINES} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
