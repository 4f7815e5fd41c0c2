#!/usr/bin/env python3
"""The module graph of ringmaster, checked (issue 24, item 2).

The top-level folders are the architecture (docs/architecture.md, "Modules"). This table is the one
place that says which module may use which: a module's sources may include headers of, and its
CMake targets may link, only the modules listed for it. cli/, bench/ and tests/ sit on top and may
use everything. A few arrows are narrowed to named headers and targets (NARROW).

Usage: check_layering.py SOURCE_ROOT      exit 0 when the graph holds, 1 listing every violation.
"""
import os
import re
import sys

ALLOWED = {
    "common": set(),
    "jobs": {"common"},
    "collectives": {"common"},
    "worker": {"common", "collectives"},
    # The parameter server implements worker's ParameterService and applies worker's optimizers.
    "ps": {"common", "worker"},
    "launcher": {"common", "jobs"},
    # kubectl runs through the launcher's Processes seam (docs/architecture.md says why).
    "k8s": {"common", "jobs", "launcher"},
    "sweep": {"common", "jobs", "launcher"},
    # The dashboard reads job and experiment directories; it knows the launcher's files by
    # launcher/job_dir.h only, and experiments through the sweep driver's reader.
    "dashboard": {"common", "launcher", "sweep", "jobs"},
}
TOP = {"cli", "bench", "tests", "fuzz", "tools"}
# (module, used module) -> the headers and CMake targets of the used module that are allowed.
NARROW = {
    ("ps", "worker"): {"worker/parameter_service.h", "worker/optimizer.h", "rm_optimizer"},
    ("dashboard", "launcher"): {"launcher/job_dir.h"},
}
# CMake targets -> the module that owns them (anything else, e.g. rm_dnnl, is a third-party wrapper).
TARGETS = {
    "rm_common": "common", "rm_metrics": "common", "rm_jobs": "jobs", "rm_collectives": "collectives",
    "rm_worker": "worker", "rm_optimizer": "worker", "rm_cuda_kernels": "worker", "rm_ps": "ps",
    "rm_ps_proto": "ps", "rm_launcher": "launcher", "rm_k8s": "k8s", "rm_sweep": "sweep",
    "rm_dashboard": "dashboard",
}
# Headers of these modules must not reach yaml-cpp through their includes, however indirectly: the
# typed job model (jobs/model.h) is what they read, and YAML stays in jobs/, k8s/ and the .cc files
# that write trial jobs (issue 24).
YAML_FREE = {"launcher", "sweep"}
SYSTEM_INCLUDE = re.compile(r'^\s*#\s*include\s+<([^>]+)>', re.M)
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_0-9]+)/([^"]+)"', re.M)
LINK = re.compile(r"target_link_libraries\s*\(([^)]*)\)", re.S)


def uses(module, other, what):
    if other == module or module in TOP:
        return True
    if other not in ALLOWED.get(module, set()):
        return False
    narrow = NARROW.get((module, other))
    return narrow is None or what in narrow


def check(root):
    problems = []
    for module in ALLOWED:
        base = os.path.join(root, module)
        for folder, _, files in os.walk(base):
            for name in sorted(files):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, root)
                if name.endswith((".h", ".cc", ".cu", ".cuh")):
                    with open(path, encoding="utf-8") as f:
                        for m in INCLUDE.finditer(f.read()):
                            other, header = m.group(1), f"{m.group(1)}/{m.group(2)}"
                            if other in ALLOWED and not uses(module, other, header):
                                problems.append(f"{rel}: includes {header}: {describe(module, other)}")
                elif name == "CMakeLists.txt":
                    with open(path, encoding="utf-8") as f:
                        for call in LINK.findall(f.read()):
                            words = call.split()
                            for target in [w for w in words[1:] if re.fullmatch(r"rm_[a-z0-9_]+", w)]:
                                other = TARGETS.get(target)
                                if other and not uses(module, other, target):
                                    problems.append(f"{rel}: links {target}: {describe(module, other)}")
    return problems


def yaml_reach(root):
    """Headers of YAML_FREE modules whose includes reach <yaml-cpp/...>, with the chain."""
    includes = {}  # header (relative) -> (project headers, reaches yaml-cpp directly)
    for folder, _, files in os.walk(root):
        if any(part.startswith(".") or part.startswith("build") for part in os.path.relpath(folder, root).split(os.sep)):
            continue
        for name in files:
            if name.endswith(".h"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                rel = os.path.relpath(path, root)
                local = [f"{m.group(1)}/{m.group(2)}" for m in INCLUDE.finditer(text)]
                direct = any(m.group(1).startswith("yaml-cpp/") for m in SYSTEM_INCLUDE.finditer(text))
                includes[rel] = (local, direct)

    def chain(header, seen):
        if header in seen or header not in includes:
            return None
        seen.add(header)
        local, direct = includes[header]
        if direct:
            return [header, "<yaml-cpp>"]
        for h in local:
            rest = chain(h, seen)
            if rest:
                return [header] + rest
        return None

    problems = []
    for header in sorted(includes):
        if header.split(os.sep)[0] in YAML_FREE:
            c = chain(header, set())
            if c:
                problems.append(f"{header}: reaches yaml-cpp ({' -> '.join(c)}); read the typed model (jobs/model.h)")
    return problems


def describe(module, other):
    narrow = NARROW.get((module, other))
    if narrow:
        return f"{module}/ may use only {', '.join(sorted(narrow))} of {other}/"
    allowed = ", ".join(sorted(ALLOWED[module])) or "nothing but the standard library and its third-party libraries"
    return f"{module}/ may depend on {allowed}, not on {other}/"


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    problems = check(sys.argv[1]) + yaml_reach(sys.argv[1])
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} arrow(s) against the module graph (tests/layering/check_layering.py)")
        return 1
    arrows = "; ".join(m + " -> " + (", ".join(sorted(d)) or "-") for m, d in ALLOWED.items())
    print("module graph holds: " + arrows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
