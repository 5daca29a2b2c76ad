#!/usr/bin/env bash
# The hazard of the unity build (CMakeLists.txt): in a batch, one file's
# helpers in an anonymous namespace (or static) are seen by the files after
# it. A name defined twice fails to compile (loud); a helper whose name
# another file of the same target defines or calls with other parameters
# becomes an overload, and the call may silently pick the other file's.
# This builds the tree per file at -O0 (every helper a symbol of its own) in
# build-unity-check/ (or $1) and lists, per target, each file-local free
# function whose name another file of the target uses with other parameter
# types. Read each: rename it, share it (common/), or, for a test file, keep
# it out of the batches (tests/CMakeLists.txt SKIP_UNITY_BUILD_INCLUSION).
# About 7 CPU-minutes. Not part of CI: run it after adding file-local helpers.
#   scripts/unity-check.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-unity-check}
cmake -S . -B "$dir" -G Ninja -DCMAKE_UNITY_BUILD=OFF -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 >/dev/null
ninja -C "$dir" >&2
python3 - "$dir" <<'PY'
import collections, glob, subprocess, sys

OURS = {'dropspot', 'agent', 'prober', 'app', 'v1', 'verdict_detail', 'ANON', 'testpkt', 'platform', 'os', 'detail'}


def split(sym):
    """(qualifiers, name, parameters) of a demangled function, or None."""
    s = sym.replace('(anonymous namespace)', 'ANON')
    depth = 0
    for i, ch in enumerate(s):
        if ch == '<':
            depth += 1
        elif ch == '>':
            depth -= 1
        elif ch == '(' and depth == 0:
            head, comps, cur, d, j = s[:i], [], '', 0, 0
            while j < len(head):
                c = head[j]
                d += (c == '<') - (c == '>')
                if c == ':' and d == 0 and head[j + 1:j + 2] == ':':
                    comps.append(cur)
                    cur, j = '', j + 2
                    continue
                cur += c
                j += 1
            comps.append(cur)
            return [q.split('<')[0] for q in comps[:-1]], comps[-1].split('<')[0].split(' ')[-1], s[i:].split(')')[0] + ')'
    return None


targets = collections.defaultdict(list)
for o in glob.glob(sys.argv[1] + '/**/CMakeFiles/*.dir/**/*.o', recursive=True):
    targets[o.split('/CMakeFiles/')[1].split('.dir')[0]].append(o)
found = 0
for target, objects in sorted(targets.items()):
    local, free = collections.defaultdict(set), collections.defaultdict(set)
    for o in objects:
        name = o.rsplit('/', 1)[-1]
        rows = [r.split() for r in subprocess.run(['nm', o], capture_output=True, text=True).stdout.splitlines()]
        mangled = [r[-1] for r in rows if len(r) >= 2 and r[-1].startswith('_Z')]
        plain = subprocess.run(['c++filt'], input='\n'.join(mangled), capture_output=True, text=True).stdout.splitlines()
        for m, d in zip(mangled, plain):
            if any(x in d for x in ('lambda', 'C_A_T_C_H', 'Frame*', '{')):
                continue
            parts = split(d)
            if not parts or not all(q in OURS for q in parts[0]):
                continue
            quals, fn, params = parts
            is_local = 'ANON' in quals or m.startswith('_ZL')
            if not is_local and (not quals or quals[0] != 'dropspot'):
                continue
            free[fn].add((name, params))
            if is_local:
                local[fn].add((name, params))
    for fn, defs in sorted(local.items()):
        for name, params in sorted(defs):
            others = sorted((o, p) for o, p in free[fn] if o != name and p != params)
            if others:
                found += 1
                print(f'{target}: {name} {fn}{params} <-> ' + '; '.join(f'{o} {fn}{p}' for o, p in others[:3]))
print(f'unity-check: {found} to read', file=sys.stderr)
PY
