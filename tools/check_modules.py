#!/usr/bin/env python3
"""Fails when the modules of a crate import each other in a cycle, or a layer imports upward.

Reads every `crate::<path>` outside `#[cfg(test)]` code and comments in each crate's `src/`.
A module is a file: `src/x.rs` is `x`, `src/layer/y.rs` is `layer::y`, `src/layer/mod.rs` is
`layer`. Modules declared under `#[cfg(test)]` are left out. Prints every import cycle, and,
for a crate given with its layers (bottom first), every import of a later layer by an earlier
one.

Usage: tools/check_modules.py ROOT[=LAYER,LAYER,...] ...
  e.g. tools/check_modules.py crates/aws/src=sdk,service,store,effect,run crates/cli/src
"""
import os
import re
import sys

IDENT = r"[a-z_][a-z0-9_]*"


def strip(source):
    """The source without comments and without the test module at its end."""
    cut = source.find("#[cfg(test)]")
    if cut >= 0:
        source = source[:cut]
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in source.splitlines())


def test_only(source):
    """Modules a file declares under `#[cfg(test)]`."""
    return set(re.findall(r"#\[cfg\(test\)\]\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+(" + IDENT + r")\s*;", source))


def modules(root):
    """Module name -> its source, for every module compiled outside tests."""
    found, skipped = {}, set()
    for folder, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(folder, name)
            parts = os.path.relpath(path, root)[:-3].split(os.sep)
            if parts[-1] == "mod":
                parts = parts[:-1]
            with open(path, encoding="utf-8") as f:
                source = f.read()
            prefix = parts if parts not in (["lib"], ["main"]) else []
            skipped.update("::".join(prefix + [m]) for m in test_only(source))
            if prefix:
                found["::".join(parts)] = source
    return {m: s for m, s in found.items() if not any(m == t or m.startswith(t + "::") for t in skipped)}


def paths(source):
    """Every `crate::a::b::…` path in the source, as lists of names (groups expanded)."""
    found = [p.split("::") for p in re.findall(r"\bcrate::((?:" + IDENT + r"::)*" + IDENT + r")", source)]
    for head, group in re.findall(r"\bcrate::((?:" + IDENT + r"::)*)\{([^}]*)\}", source, flags=re.S):
        for item in group.split(","):
            item = item.strip()
            if item:
                found.append((head + item).split("::"))
    return found


def graph(root):
    mods = modules(root)
    edges = {m: set() for m in mods}
    for m, source in mods.items():
        for path in paths(strip(source)):
            # The longest prefix of the path that names a module.
            target = None
            for n in range(len(path), 0, -1):
                if "::".join(path[:n]) in mods:
                    target = "::".join(path[:n])
                    break
            if target and target != m and not target.startswith(m + "::"):
                edges[m].add(target)
    return edges


def cycles(edges):
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def upward(edges, layers):
    """(module, imported) pairs where a module imports a later layer, and modules in no layer."""
    rank = {name: i for i, name in enumerate(layers)}
    wrong, unplaced = [], sorted({m.split("::")[0] for m in edges} - set(rank))
    for m, deps in sorted(edges.items()):
        for d in sorted(deps):
            a, b = rank.get(m.split("::")[0]), rank.get(d.split("::")[0])
            if a is not None and b is not None and b > a:
                wrong.append((m, d))
    return wrong, unplaced


def main(args):
    failed = False
    for arg in args:
        root, _, layers = arg.partition("=")
        edges = graph(root)
        for component in cycles(edges):
            failed = True
            print(f"{root}: modules import each other in a cycle: {', '.join(component)}")
            for m in component:
                print(f"  {m} -> {', '.join(sorted(edges[m] & set(component)))}")
        if layers:
            wrong, unplaced = upward(edges, layers.split(","))
            for m, d in wrong:
                failed = True
                print(f"{root}: {m} imports {d}, a later layer (layers, bottom first: {layers})")
            for m in unplaced:
                failed = True
                print(f"{root}: module {m} is in no layer: add it to the layer list in the Makefile")
    if not failed:
        print(f"no module import cycle and no upward import in {', '.join(a.split('=')[0] for a in args)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
