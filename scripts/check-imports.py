#!/usr/bin/env python3
"""Import-cycle and crate-graph check for the taxpoynt-mono workspace, run by `.ci/run`.

Rule 1: no import cycle between the source files of a crate (the root package's src/ and each
member's crates/*/src/; tests/, examples/, benches/, fuzz/ are not scanned). File A depends on
file B when A names a path into B: `use` or inline `crate::…`, `super::…`, `self::…`, a child
module, or a name a `use` bound. A path through a re-export (`pub use x::Name`, `pub use x::*`)
counts for the file defining `Name`; `mod x;` is no edge; comments and strings are skipped;
`#[cfg(test)]` code counts (marked in reports, left out of --graph). src/main.rs is a root of
its own, where `taxpoynt_mono::x` resolves like `crate::x`.
Rule 1b: the same graph collapsed to top-level modules (`http`, `services`, `db`, ...) is one-way.
Rule 2: workspace crates depend on each other (normal dependencies) only as ALLOWED says.

  python3 scripts/check-imports.py               check; exit 1 on a cycle or a forbidden edge
  python3 scripts/check-imports.py --graph [--dot] [--crate NAME]
                                                 module graph collapsed to top-level modules
  python3 scripts/check-imports.py --self-test   check the checker on a fake crate
Python 3.11, standard library only; runs from any directory.
"""
import argparse, bisect, glob, json, re, subprocess, sys, tempfile, tomllib
from pathlib import Path

# Which workspace crate may depend on which (package names). A workspace member missing from this table fails the check.
ALLOWED = {
    "taxpoynt-mono": {"eligibility", "mono", "sandbox", "redact", "mbs", "request-budget"},
    "sandbox": {"mono", "redact", "mbs"},
    "mono": {"redact", "request-budget"},
    "mbs": {"redact", "request-budget"},
    "request-budget": set(),
    "eligibility": {"redact"},
    "redact": set(),
}

ROOT = Path(__file__).resolve().parent.parent
MAIN = "<main>"  # first segment of src/main.rs's module path: a root of its own
LITERAL = re.compile(r'//[^\n]*|/\*|(?<!\w)[bc]?r(#*)".*?"\1|"(?:\\.|[^"\\])*"'
                     r"|'(?:\\u\{[0-9a-fA-F]+\}|\\.|[^\\'\n])'", re.S)  # comments, strings, chars
BLOCK = re.compile(r"/\*|\*/")
USE = re.compile(r"\b(pub(?:\s*\([^)]*\))?\s+)?use\s+([^;]+);")
USE_TOKEN = re.compile(r"::|[{}*]|\w+")  # commas dropped: a member ends where no `::` follows
INLINE_MOD = re.compile(r"\bmod\s+(\w+)\s*\{")
TEST_ATTR = re.compile(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?$")
PATH = re.compile(r"(?<![\w:$#])[A-Za-z_]\w*(?:\s*::\s*[A-Za-z_]\w*)+")
DEFINES = re.compile(r"\b(?:fn|struct|enum|union|trait|type|const|static|mod|macro_rules!)\s+(\w+)")


def blank(text):
    return re.sub(r"[^\n]", " ", text)


def strip(src):
    """Blank out comments and string/char literals, keeping every offset and newline."""
    out, i = [], 0
    while (m := LITERAL.search(src, i)):
        j, depth = m.end(), int(m.group() == "/*")
        while depth and (k := BLOCK.search(src, j)):  # block comments nest
            depth, j = depth + (1 if k.group() == "/*" else -1), k.end()
        j = len(src) if depth else j
        out += [src[i:m.start()], blank(src[m.start():j])]
        i = j
    return "".join(out) + src[i:]


def use_leaves(tree, offset):
    """Flatten a use tree into (segments, bound name or None for a glob, offset of its end)."""
    toks, leaves, i = [(m.group(), offset + m.start()) for m in USE_TOKEN.finditer(tree)], [], 0

    def walk(prefix):
        nonlocal i
        path, pos = list(prefix), offset
        while i < len(toks):
            (t, pos), i = toks[i], i + 1
            if t == "{":  # a group: each member continues the path so far
                while i < len(toks) and toks[i][0] != "}":
                    walk(path)
                i += 1
                return
            if t == "*":
                return leaves.append((path, None, pos))
            if not (t == "self" and prefix and len(path) == len(prefix)):  # `{self, …}`
                path.append(t)
            if i >= len(toks) or toks[i][0] != "::":
                break
            i += 1
        alias = path[-1] if path else None
        if i + 1 < len(toks) and toks[i][0] == "as":
            alias, i = toks[i + 1][0], i + 2
        leaves.append((path, alias, pos))

    while i < len(toks):
        walk([])
    return leaves


class Crate:
    """One crate's files, their module paths, and the file-to-file edges between them."""

    def __init__(self, name, lib, src, label_root):
        self.name, self.lib = name, lib
        self.files, self.base, self.code = {}, {}, {}  # module path <-> file label; stripped code
        self.defs, self.reexp, self.globs = {}, {}, {}  # per file: names defined, re-exported
        for path in sorted(src.rglob("*.rs")):
            parts = path.relative_to(src).with_suffix("").parts
            mod = {("lib",): (), ("main",): (MAIN,)}.get(parts, parts[:-1] if parts[-1] == "mod" else parts)
            label = str(path.relative_to(label_root))
            self.files[mod], self.base[label] = label, mod
            self.code[label] = strip(path.read_text(encoding="utf-8"))
        self.known = set(self.files)  # every module path; parse() adds inline `mod x { … }` ones
        parsed = {f: self.parse(f) for f in self.files.values()}
        self.edges = {}  # (from, to) -> (line, path text, only in test code) of its first place
        for f, refs in parsed.items():
            for segs, line, text, cur, bindings, test in sorted(refs, key=lambda r: r[1]):
                if (full := self.absolute(segs, cur, bindings)) is None:
                    continue
                to = self.locate(full, frozenset())[0]
                if to not in (None, f) and ((f, to) not in self.edges or self.edges[f, to][2] > test):
                    self.edges[f, to] = (line, text, test)

    def parse(self, f):
        """The paths file `f` names, as (segments, line, text, module, bindings, in test code)."""
        code, base = self.code[f], self.base[f]
        newlines = [i for i, ch in enumerate(code) if ch == "\n"]
        line_of = lambda pos: bisect.bisect_left(newlines, pos) + 1
        spans = []  # inline modules: (start, end, name, under #[cfg(test)])
        for m in INLINE_MOD.finditer(code):
            depth, j = 1, m.end()
            while j < len(code) and depth:
                depth, j = depth + {"{": 1, "}": -1}.get(code[j], 0), j + 1
            test = bool(TEST_ATTR.search(code, max(0, m.start() - 300), m.start()))
            spans.append((m.start(), j, m.group(1), test))
        mod_at = lambda pos: base + tuple(name for s, e, name, _ in spans if s <= pos < e)
        in_test = lambda pos: any(test for s, e, _, test in spans if s <= pos < e)
        self.known |= {mod_at(s) + (name,) for s, _, name, _ in spans}
        self.defs[f], self.reexp[f], self.globs[f] = set(DEFINES.findall(code)), {}, []
        rest = USE.sub(lambda m: blank(m.group()), code)  # the code without its use statements
        own = re.sub(r"\bmod\s+\w+", "", rest)  # ... nor its `mod x` declarations
        refs, bindings = [], {}  # bindings: name a file-level `use` brings in -> absolute path
        for m in USE.finditer(code):
            cur, public = mod_at(m.start()), bool(m.group(1))
            for segs, alias, pos in use_leaves(m.group(2), m.start(2)):
                if not segs or (full := self.absolute(segs, cur, bindings)) is None:
                    continue
                if alias is not None and cur == base:
                    bindings[alias] = full
                if public and cur == base:  # a re-export, which importers follow through
                    if alias is None:
                        self.globs[f].append(full)
                    else:
                        self.reexp[f][alias] = full
                    if alias is None or not re.search(rf"\b{alias}\b", own):
                        continue  # not used by this file itself: no edge of its own
                text = "use " + "::".join(segs) + ("::*" if alias is None else "")
                refs.append((segs, line_of(pos), text, cur, bindings, in_test(pos)))
        for m in PATH.finditer(rest):
            segs, s = re.split(r"\s*::\s*", m.group()), m.start()
            refs.append((segs, line_of(s), m.group(), mod_at(s), bindings, in_test(s)))
        return refs

    def absolute(self, segs, cur, bindings):
        """The absolute module path (tuple) `segs` names in module `cur`; None if outside the crate."""
        head, rest = segs[0], tuple(segs[1:])
        if head in ("crate", self.lib):
            return rest
        if head == "self":
            return cur + rest
        if head == "super":  # for a/b.rs and a/b/mod.rs alike, `super` is `a`
            base, rest = cur, tuple(segs)
            while rest and rest[0] == "super":
                if not base or base[0] == MAIN:
                    return None
                base, rest = base[:-1], rest[1:]
            return base + rest
        if cur + (head,) in self.known:  # a child module, named relative to this one
            return cur + tuple(segs)
        return bindings[head] + rest if head in bindings else None

    def locate(self, full, seen):
        """(file, unresolved tail) for an absolute path: the deepest module with a file, then,
        when the tail names an item that file does not define, through its re-exports."""
        ks = [k for k in range(len(full) + 1) if full[:k] in self.files]
        if not ks:
            return None, full
        f, tail = self.files[full[:ks[-1]]], full[ks[-1]:]
        if not tail or tail[0] in self.defs[f] or (f, tail[0]) in seen:
            return f, tail
        seen = seen | {(f, tail[0])}
        if tail[0] in self.reexp[f]:
            return self.locate(self.reexp[f][tail[0]] + tail[1:], seen)
        for g in self.globs[f]:
            g_file, g_tail = self.locate(g + tail, seen)
            if g_file and (not g_tail or g_tail[0] in self.defs[g_file]):
                return g_file, g_tail
        return f, tail


def sccs(nodes, succ):
    """Tarjan's strongly connected components, iteratively; each component sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []
    for root in (n for n in nodes if n not in index):
        work = [(root, None)]
        while work:
            v, it = work.pop()
            if it is None:  # first visit
                index[v] = low[v] = len(index)
                stack.append(v), on.add(v)
                it = iter(sorted(succ.get(v, ())))
            for w in it:
                if w not in index:
                    work += [(v, it), (w, None)]
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:  # v is done: hand its low-link to its parent, pop its component if it roots one
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while not comp or comp[-1] != v:
                        comp.append(stack.pop())
                        on.discard(comp[-1])
                    out.append(sorted(comp))
    return out


def shortest_cycle(comp, succ):
    """A shortest cycle in a strongly connected component, as [a, b, …, a]."""
    return min((cycle_through(start, set(comp), succ) for start in comp), key=len)


def cycle_through(start, members, succ):
    """A shortest cycle through `start` inside `members` (breadth-first)."""
    prev, queue = {}, [start]
    for v in queue:
        for w in sorted(succ.get(v, ())):
            if w == start:
                chain = [v]
                while chain[-1] != start:
                    chain.append(prev[chain[-1]])
                return chain[::-1] + [start]
            if w in members and w not in prev:
                prev[w] = v
                queue.append(w)


def file_cycles(crate):
    """(report lines, number of cycles) for the crate's file graph."""
    succ, report = {}, []
    for a, b in crate.edges:
        succ.setdefault(a, set()).add(b)
    comps = [c for c in sccs(sorted(crate.files.values()), succ) if len(c) > 1]
    for comp in comps:
        chain = shortest_cycle(comp, succ)
        report += [f"cycle: {crate.name}: {len(comp)} files: {', '.join(comp)}", "  " + " -> ".join(chain)]
        for a, b in zip(chain, chain[1:]):
            line, text, test = crate.edges[a, b]
            report.append(f"    {a}:{line}: `{text}` -> {b}" + (" (in #[cfg(test)] code)" if test else ""))
        mutual = [f"{a} <-> {b}" for a, b in sorted(crate.edges) if a < b and a in comp and (b, a) in crate.edges]
        report += [f"  two-file cycles in it: {', '.join(mutual)}"] if mutual else []
    return report, len(comps)


def crate_errors(deps):
    """Errors for a crate graph {package: [workspace packages it depends on]}."""
    errors = [f"crate graph: workspace member `{name}` is not in ALLOWED: add it to the table at the top "
              "of scripts/check-imports.py" for name in sorted(deps) if name not in ALLOWED]
    errors += [f"crate graph: `{name}` depends on `{d}`, which ALLOWED does not permit "
               f"(allowed: {', '.join(sorted(ALLOWED[name])) or 'nothing'})"
               for name in sorted(deps) for d in deps[name] if d not in ALLOWED.get(name, {d})]
    return errors + ["crate graph: cycle: " + " -> ".join(shortest_cycle(comp, deps))
                     for comp in sccs(sorted(deps), deps) if len(comp) > 1]


def metadata_deps(root):
    """{member: sorted workspace members it has a normal dependency on}, from cargo metadata."""
    for extra in (["--offline"], []):
        run = subprocess.run(["cargo", "metadata", "--no-deps", "--format-version", "1", *extra],
                             cwd=root, capture_output=True, text=True)
        if run.returncode == 0:
            break
    else:
        sys.exit(f"error: cargo metadata failed:\n{run.stderr.strip()}")
    meta = json.loads(run.stdout)
    members = {p["name"]: p for p in meta["packages"] if p["id"] in meta["workspace_members"]}
    return {name: sorted({d["name"] for d in p["dependencies"] if d["kind"] is None and d["name"] in members})
            for name, p in members.items()}  # kind None: normal, not dev or build


def discover(root):
    """Every workspace package (the workspace's `members` globs) with a src/ directory, as a Crate."""
    members = tomllib.loads((root / "Cargo.toml").read_text()).get("workspace", {}).get("members", ["."])
    crates = []
    dirs = dict.fromkeys(Path(p).resolve() for pat in members for p in sorted(glob.glob(str(root / pat))))
    for d in dirs:
        manifest = tomllib.loads((d / "Cargo.toml").read_text()) if (d / "Cargo.toml").is_file() else {}
        if (package := manifest.get("package")) and (d / "src").is_dir():
            lib = manifest.get("lib", {}).get("name") or package["name"].replace("-", "_")
            crates.append(Crate(package["name"], lib, d / "src", root))
    return crates


def top_graph(crate):
    """Edges between top-level modules, e.g. ("http", "services"), sorted; test code left out."""
    top = {f: ("main" if m[:1] == (MAIN,) else m[0] if m else "lib") for f, m in crate.base.items()}
    return sorted({(top[a], top[b]) for (a, b), (*_, test) in crate.edges.items() if top[a] != top[b] and not test})


def self_test():
    """Run the checker on a fake crate with two known cycles and a known acyclic part."""
    fake = {
        "lib.rs": "".join(f"pub mod {m};\n" for m in "abcdexyp") + "pub fn helper() {}\n",
        # Acyclic: a -> b/inner (through b's re-export) -> c -> lib; noise in comments, strings, tests.
        "a.rs": "//! see crate::c::Z and [`crate::x::go`]\nuse crate::b::Thing;\n"
                "fn f() -> &'static str { \"crate::x::go\" }\n/* crate::x::go /* nested */ crate::x */\n",
        "b/mod.rs": "pub mod inner;\npub use inner::Thing;\n",
        "b/inner.rs": "use super::super::c::Z;\npub struct Thing;\n",
        "c.rs": "pub struct Z;\nfn g() { crate::helper(); let _ = '{'; }\n"
                "#[cfg(test)]\nmod tests {\n    use super::*;\n    fn t() { super::Z; }\n}\n",
        "d.rs": "use crate::{\n    b::{inner::{self as i}, Thing as T},\n    helper,\n};\nfn f() { i::Thing; }\n",
        "e.rs": "#[cfg(test)]\nmod tests {\n    use crate::c::Z;\n}\n",
        # A cycle through a re-export: x -> y/w (y/mod.rs re-exports Widget) -> x.
        "x.rs": "use crate::y::{Widget, self as why};\npub fn go() {}\n",
        "y/mod.rs": "pub mod w;\npub use w::{Widget, Other};\n",
        "y/w.rs": "pub struct Widget; pub struct Other;\nfn f() { crate::x::go(); }\n",
        # A cycle through super::: p/r <-> p/s.
        "p/mod.rs": "pub mod r;\npub mod s;\n", "p/r.rs": "use super::s::S;\npub struct R;\n",
        "p/s.rs": "pub struct S;\nfn g() { let _ = super::r::R; }\n",
    }
    with tempfile.TemporaryDirectory() as tmp:
        for rel, text in fake.items():
            (Path(tmp) / "src" / rel).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / "src" / rel).write_text(text)
        crate = Crate("fake", "fake", Path(tmp) / "src", Path(tmp))
    report, count = file_cycles(crate)
    assert count == 2 and "cycle: fake: 2 files: src/p/r.rs, src/p/s.rs" in report, report
    assert "cycle: fake: 2 files: src/x.rs, src/y/w.rs" in report, report
    has = lambda a, b: (f"src/{a}.rs", f"src/{b}.rs") in crate.edges
    for a, b in map(str.split, ["a b/inner", "b/inner c", "c lib", "d b/inner", "d lib", "x y/w", "e c"]):
        assert has(a, b), f"missing edge {a} -> {b}"
    for a, b in map(str.split, ["a c", "a x", "a b/mod", "d b/mod", "y/mod y/w", "lib a"]):
        assert not has(a, b), f"unexpected edge {a} -> {b}"
    assert {("a", "b"), ("b", "c")} <= set(top_graph(crate)) and ("e", "c") not in top_graph(crate)
    assert crate_errors({"taxpoynt-mono": ["mono", "redact"], "mono": ["redact"], "redact": []}) == []
    assert len(crate_errors({"redact": ["mono"], "mono": ["redact"], "new": []})) == 3
    print("ok: self-test")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--graph", action="store_true", help="print the module graph, do not check")
    parser.add_argument("--dot", action="store_true", help="with --graph: as Graphviz DOT")
    parser.add_argument("--crate", help="with --graph: only this crate")
    parser.add_argument("--self-test", action="store_true", help="check the checker on a fake crate")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    crates = discover(ROOT)
    if args.graph:
        for crate in (c for c in crates if args.crate in (None, c.name)):
            if args.dot:
                edges = "".join(f'  "{a}" -> "{b}";\n' for a, b in top_graph(crate))
                print(f'digraph "{crate.name}" {{\n  rankdir=LR;\n{edges}}}')
            else:
                print(f"# {crate.name}\n" + "".join(f"{a} -> {b}\n" for a, b in top_graph(crate)))
        return
    failed = False
    for crate in crates:
        (report, count), summary = file_cycles(crate), f"{len(crate.files)} files, {len(crate.edges)} edges"
        failed |= bool(count)
        print("\n".join(report + [f"FAIL: {crate.name}: {summary}, {count} import cycle(s), see above"])
              if count else f"ok: {crate.name}: {summary}, no cycle")
        # Rule 1b: the same collapsed to top-level modules (http, services, db, ...): a circle
        # between directories is a circle too, even when no two files close it.
        edges = top_graph(crate)
        succ = {}
        for a, b in edges:
            succ.setdefault(a, set()).add(b)
        circles = [c for c in sccs(sorted({m for e in edges for m in e}), succ) if len(c) > 1]
        failed |= bool(circles)
        for c in circles:
            print(f"FAIL: {crate.name}: top-level modules in a circle: {' <-> '.join(c)}")
        if not circles:
            print(f"ok: {crate.name}: {len(edges)} edges between top-level modules, one-way")
    deps = metadata_deps(ROOT)
    errors = crate_errors(deps)
    failed |= bool(errors)
    print("\n".join(errors) if errors else f"ok: crate graph: {len(deps)} crates, one-way")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
