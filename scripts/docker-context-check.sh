#!/usr/bin/env bash
# Checks, without Docker (CI has no daemon), that the Dockerfile's build stage is given every
# path the build needs and that the runtime stage copies what the build stage makes:
#
#   1. parses the Dockerfile: the build stage is the one whose RUN calls `cargo build`; its
#      WORKDIR, ENV and COPY lines, and the later stages' `COPY --from=<build stage>` lines;
#   2. copies exactly the build stage's COPY sources (minus .dockerignore) into an empty
#      folder laid out as the image's WORKDIR;
#   3. runs the build stage's cargo command there, with the stage's ENV;
#   4. checks every `COPY --from` source: a file of the build context must be in the folder;
#      `<WORKDIR>/target/<profile>/<bin>` must be what the cargo command makes (its profile,
#      one of its `--bin`s).
#
# Fast enough for every CI run (well under a minute once warm), at the cost of two
# substitutions in step 3:
#   - `cargo check` instead of `cargo build`, and the dev profile instead of `--release`. A
#     missing path shows in `check` as in `build`: `include_bytes!` (assets/), `migrate!`
#     (migrations/), the sqlx offline data (.sqlx/) and every crate's sources are read
#     while checking; only code generation and linking are skipped, which need no path.
#     That is why step 4 checks the binary's path against the command rather than on disk.
#   - the target directory is the checkout's own (`target/`, or CARGO_TARGET_DIR), and the
#     folder is always the same one for that target directory (emptied first; outside the
#     checkout, so no `../` from it can reach the checkout's files): the dependencies are
#     mostly checked there already, and the folder's crates keep their fingerprints from one
#     run to the next (copies keep modification times), so nothing is checked twice for
#     nothing. A file that went missing is still noticed: cargo fingerprints by what each
#     crate read, and a file it read that is gone makes the crate stale. The first run
#     checks the dependencies whose features differ from clippy's `--all-targets` (~2 min on
#     two cores); later runs take seconds.
#   `--offline` too: the dependencies are the ones the checkout already fetched.
#
# Usage: scripts/docker-context-check.sh [Dockerfile]   (exit 1 naming what is missing)
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 - "${1:-Dockerfile}" <<'PY'
import fnmatch
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path, PurePosixPath

root = Path.cwd()
dockerfile = Path(sys.argv[1])
target_dir = Path(os.environ.get("CARGO_TARGET_DIR") or root / "target").resolve()
context_dir = Path(tempfile.gettempdir()) / (
    "taxpoynt-docker-context-" + hashlib.sha256(str(target_dir).encode()).hexdigest()[:12]
)


def fail(message):
    print(f"docker-context-check: {message}", file=sys.stderr)
    sys.exit(1)


def instructions(text):
    """(keyword, arguments) per instruction: continuations joined, comments dropped."""
    out, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, args = current.strip().partition(" ")
        out.append((keyword.upper(), args.strip()))
        current = ""
    if current.strip():
        keyword, _, args = current.strip().partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def stages(instrs):
    found = []
    for keyword, args in instrs:
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(found))
            found.append({"name": name, "instrs": []})
        elif found:
            found[-1]["instrs"].append((keyword, args))
    return found


def copy_args(args):
    """COPY's flags and its sources and destination (shell form or JSON form)."""
    if args.startswith("["):
        words = json.loads(args)
        flags = []
    else:
        words = shlex.split(args)
        flags = [w for w in words if w.startswith("--")]
        words = [w for w in words if not w.startswith("--")]
    if len(words) < 2:
        fail(f"COPY {args}: needs a source and a destination")
    return {f.split("=", 1)[0]: f.split("=", 1)[-1] for f in flags}, words[:-1], words[-1]


def ignore_patterns():
    path = root / ".dockerignore"
    if not path.exists():
        return []
    return [
        line.strip().strip("/")
        for line in path.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


IGNORED = ignore_patterns()


def ignored(rel):
    parts = PurePosixPath(rel).parts
    for pattern in IGNORED:
        if pattern.startswith("!"):
            continue
        for i in range(1, len(parts) + 1):
            if fnmatch.fnmatch("/".join(parts[:i]), pattern):
                return True
    return False


def copy_tree(src_rel, dest):
    """Docker's COPY of one source: a directory's contents into dest, a file as dest."""
    src = root / src_rel
    if ignored(src_rel):
        return
    if src.is_dir():
        for dirpath, dirnames, filenames in os.walk(src):
            rel_dir = Path(dirpath).relative_to(root)
            dirnames[:] = [d for d in dirnames if not ignored(str(rel_dir / d))]
            for name in filenames:
                rel = rel_dir / name
                if ignored(str(rel)):
                    continue
                out = dest / Path(dirpath).relative_to(src) / name
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(root / rel, out)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)


def main():
    if not dockerfile.exists():
        fail(f"{dockerfile} not found")
    all_stages = stages(instructions(dockerfile.read_text()))
    builds = [
        s for s in all_stages
        if any(k == "RUN" and "cargo build" in a for k, a in s["instrs"])
    ]
    if len(builds) != 1:
        fail(f"expected one stage whose RUN calls `cargo build`, found {len(builds)}")
    build = builds[0]

    # 1-2: the build stage's files, laid out under its WORKDIR.
    if context_dir.exists():
        shutil.rmtree(context_dir)
    context_dir.mkdir(parents=True)
    workdir = PurePosixPath("/")
    env = {}
    cargo = None
    copied = []
    for keyword, args in build["instrs"]:
        if keyword == "WORKDIR":
            workdir = workdir / args
        elif keyword == "ENV":
            words = shlex.split(args)
            if words and "=" not in words[0]:
                env[words[0]] = " ".join(words[1:])
            else:
                env.update(w.split("=", 1) for w in words)
        elif keyword == "COPY":
            flags, sources, dest = copy_args(args)
            if "--from" in flags:
                fail(f"COPY {args}: the build stage copies from another stage; not supported here")
            dest_path = workdir / dest if not dest.startswith("/") else PurePosixPath(dest)
            for source in sources:
                if not (root / source).exists():
                    fail(f"COPY {source}: not in the build context")
                rel_dest = dest_path.relative_to(workdir) if dest_path.is_relative_to(workdir) else None
                if rel_dest is None:
                    fail(f"COPY {source} {dest}: lands outside WORKDIR {workdir}")
                local = context_dir / rel_dest
                if (root / source).is_file() and (dest.endswith("/") or len(sources) > 1):
                    local = local / Path(source).name
                copy_tree(source, local)
                copied.append(source)
        elif keyword == "RUN" and "cargo build" in args:
            segment = next(s for s in args.split("&&") if "cargo build" in s)
            cargo = shlex.split(segment)
    print(f"build stage `{build['name']}` (WORKDIR {workdir}) copies: {' '.join(copied)}")

    # 3: the stage's cargo command, checked rather than built (see the header).
    at = cargo.index("build")
    release = "--release" in cargo
    bins = [cargo[i + 1] for i, w in enumerate(cargo[:-1]) if w == "--bin"]
    bins += [w.split("=", 1)[1] for w in cargo if w.startswith("--bin=")]
    command = cargo[:at] + ["check"] + [w for w in cargo[at + 1:] if w != "--release"] + ["--offline"]
    run_env = dict(os.environ, **env, CARGO_TARGET_DIR=str(target_dir))
    print(f"in {context_dir}: {' '.join(command)}", flush=True)
    done = subprocess.run(command, cwd=context_dir, env=run_env)
    if done.returncode != 0:
        fail(
            "the build stage's cargo command fails in a folder holding only what the Dockerfile "
            "copies: a path the build reads is missing from its COPY lines (see the error above)"
        )

    # 4: what the later stages take from the build stage.
    profile = "release" if release else "debug"
    for stage in all_stages:
        for keyword, args in stage["instrs"]:
            if keyword != "COPY":
                continue
            flags, sources, _ = copy_args(args)
            if flags.get("--from") not in (build["name"], str(all_stages.index(build))):
                continue
            for source in sources:
                path = PurePosixPath(source)
                if not path.is_relative_to(workdir):
                    fail(f"COPY --from={build['name']} {source}: outside the build stage's WORKDIR {workdir}")
                rel = path.relative_to(workdir)
                if rel.parts[:1] == ("target",):
                    made = {PurePosixPath("target", profile, b) for b in bins}
                    if rel not in made:
                        fail(
                            f"COPY --from={build['name']} {source}: the build stage makes "
                            f"{', '.join(str(workdir / m) for m in sorted(made)) or 'no named binary'}"
                        )
                elif not (context_dir / rel).exists():
                    fail(f"COPY --from={build['name']} {source}: not in the build stage")
                print(f"stage `{stage['name']}` takes {source}: made by the build stage")
    print("docker context: ok")


main()
PY
