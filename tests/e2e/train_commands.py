#!/usr/bin/python3
"""Prints, one JSON list per line, every `ringmaster train` command found in the example job files:
the container command+args of each replica, the command after `mpirun ...` in an MPIJob launcher, and
the trial template of a Katib Experiment with each ${trialParameters.x} replaced by a value from its
parameter's feasible space. Used by example_commands_test.sh to prove the flags in our YAML are the
flags `ringmaster train` accepts."""
import json
import re
import sys

import yaml


def containers(obj):
    """Yields every container dict under a document (pod templates at any depth)."""
    if isinstance(obj, dict):
        if isinstance(obj.get("containers"), list):
            yield from (c for c in obj["containers"] if isinstance(c, dict))
        for v in obj.values():
            yield from containers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from containers(v)


def trial_values(doc):
    """Maps trialParameters names to a feasible value (the minimum, or the first list item)."""
    spec = doc.get("spec", {})
    params = {p["name"]: p.get("feasibleSpace", {}) for p in spec.get("parameters", [])}
    out = {}
    for tp in spec.get("trialTemplate", {}).get("trialParameters", []):
        space = params.get(tp.get("reference"), {})
        out[tp["name"]] = space.get("min") or (space.get("list") or ["1"])[0]
    return out


def main():
    for path in sys.argv[1:]:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for doc in docs:
            values = trial_values(doc) if doc.get("kind") == "Experiment" else {}
            for c in containers(doc):
                argv = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
                argv = [re.sub(r"\$\{trialParameters\.(\w+)\}", lambda m: str(values[m.group(1)]), a) for a in argv]
                for i in range(len(argv) - 1):
                    if argv[i].endswith("ringmaster") and argv[i + 1] == "train":
                        print(json.dumps({"file": path, "argv": argv[i + 1:]}))
                        break


main()
