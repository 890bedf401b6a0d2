#!/usr/bin/env python3
"""Fails when the modules of a crate import each other in a cycle.

Reads every `crate::<module>` path outside `#[cfg(test)]` code and comments in each crate's
`src/`, builds the graph of its top-level modules, and prints every strongly connected component
of more than one module. Usage: tools/check_modules.py crates/core/src crates/aws/src
"""
import os
import re
import sys


def strip(source):
    """The source without comments and without the test module at its end."""
    cut = source.find("#[cfg(test)]")
    if cut >= 0:
        source = source[:cut]
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in source.splitlines())


def graph(root):
    edges = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(folder, name)
            parts = os.path.relpath(path, root)[:-3].split(os.sep)
            if parts[-1] == "mod":
                parts = parts[:-1]
            if parts in (["lib"], ["main"]):
                continue
            top = parts[0]
            with open(path, encoding="utf-8") as f:
                source = strip(f.read())
            used = set(re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", source))
            for group in re.findall(r"\bcrate::\{([^}]*)\}", source, flags=re.S):
                for item in group.split(","):
                    head = item.strip().split("::")[0]
                    if re.fullmatch(r"[a-z_][a-z0-9_]*", head):
                        used.add(head)
            edges.setdefault(top, set()).update(used - {top})
    return {m: {d for d in deps if d in edges} for m, deps in edges.items()}


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


def main(roots):
    failed = False
    for root in roots:
        edges = graph(root)
        for component in cycles(edges):
            failed = True
            print(f"{root}: modules import each other in a cycle: {', '.join(component)}")
            for m in component:
                print(f"  {m} -> {', '.join(sorted(edges[m] & set(component)))}")
    if not failed:
        print(f"no module import cycle in {', '.join(roots)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
