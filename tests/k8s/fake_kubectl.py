#!/usr/bin/env python3
"""A recorded fake kubectl for `ringmaster submit`'s tests.

It keeps a small cluster in $FAKE_KUBECTL_DIR/state.json, answers from the fixture pod states a
scenario names, and appends every call (argv and stdin) to $FAKE_KUBECTL_DIR/calls.jsonl.

$FAKE_KUBECTL_DIR/scenario.json:
  {"pods": {"<pod>": [ATTEMPT, ATTEMPT, ...]},   # per creation of that pod; the last one repeats
   "default": ATTEMPT,                           # pods the scenario does not name
   "objects": {"<resource>/<name>": [STEP, ...]}, # `get <resource> <name>`: status per listing
   "fail": {"<verb>": {"code": 1, "stderr": "..."}}}
  ATTEMPT: [STEP, ...]; STEP: {"lists": N, "status": "<fixture>"}: the pod shows tests/fixtures/
  kubectl/pod-status/<fixture>.json for N listings after the steps before it (the last step stays).
A deleted pod shows once more (with a deletionTimestamp), then is gone. Creating a pod whose name
exists fails with AlreadyExists, as a real API server does.
"""
import fcntl
import json
import os
import sys

import yaml

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "kubectl", "pod-status")


def fail(msg, code=1):
    sys.stderr.write(msg + "\n")
    sys.exit(code)


def main():
    d = os.environ["FAKE_KUBECTL_DIR"]
    argv = sys.argv[1:]
    stdin = sys.stdin.read() if ("-f" in argv and "-" in argv) else ""
    lock = open(os.path.join(d, "lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    with open(os.path.join(d, "calls.jsonl"), "a") as f:
        f.write(json.dumps({"argv": argv, "stdin": stdin}) + "\n")
    with open(os.path.join(d, "scenario.json")) as f:
        scenario = json.load(f)
    state_path = os.path.join(d, "state.json")
    state = json.load(open(state_path)) if os.path.exists(state_path) else {"lists": 0, "pods": {}, "attempts": {}, "objects": {}}

    # Global flags.
    args, flags = [], {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--context", "--namespace", "-n"):
            flags[a] = argv[i + 1]
            i += 2
            continue
        args.append(a)
        i += 1
    verb = args[0] if args else ""
    if verb in scenario.get("fail", {}):
        e = scenario["fail"][verb]
        fail(e["stderr"], e.get("code", 1))

    def pod_status(pod):
        attempts = scenario.get("pods", {}).get(pod["name"], [scenario.get("default", [{"status": "running"}])])
        steps = attempts[min(pod["attempt"], len(attempts) - 1)]
        age = state["lists"] - pod["created"]
        for step in steps:
            n = step.get("lists")
            if n is None or age < n:
                return step["status"]
            age -= n
        return steps[-1]["status"]

    out = []
    if verb == "apply":
        for doc in yaml.safe_load_all(stdin):
            if not doc:
                continue
            key = "%s/%s" % (doc["kind"].lower(), doc["metadata"]["name"])
            out.append("%s configured" % key if key in state["objects"] else "%s created" % key)
            state["objects"][key] = doc
    elif verb == "create":
        docs = [x for x in yaml.safe_load_all(stdin) if x]
        doc = docs[0]
        name = doc["metadata"]["name"]
        old = state["pods"].get(name)
        if old and not old.get("gone"):
            fail('Error from server (AlreadyExists): error when creating "STDIN": pods "%s" already exists' % name)
        attempt = state["attempts"].get(name, 0)
        state["attempts"][name] = attempt + 1
        state["pods"][name] = {"name": name, "attempt": attempt, "created": state["lists"],
                               "uid": "uid-%s-%d" % (name, attempt), "labels": doc["metadata"].get("labels", {}),
                               "deleted_at": None, "gone": False}
        out.append(json.dumps({"apiVersion": "v1", "kind": "Pod",
                               "metadata": {"name": name, "uid": state["pods"][name]["uid"]}}))
    elif verb == "get" and len(args) > 1 and args[1] == "pods":
        state["lists"] += 1
        items = []
        for pod in state["pods"].values():
            if pod["gone"]:
                continue
            if pod["deleted_at"] is not None and state["lists"] - pod["deleted_at"] > 1:
                pod["gone"] = True
                continue
            fixture = pod_status(pod)
            with open(os.path.join(FIXTURES, fixture + ".json")) as f:
                status = json.load(f)
            meta = {"name": pod["name"], "uid": pod["uid"], "labels": pod["labels"]}
            if pod["deleted_at"] is not None:
                meta["deletionTimestamp"] = "2026-11-21T00:00:00Z"
            spec = {"nodeName": "node-1"} if status.get("phase") != "Pending" else {}
            items.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status})
        out.append(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    elif verb == "get" and len(args) > 2:
        key = "%s/%s" % (args[1], args[2])
        steps = scenario.get("objects", {}).get(key)
        if steps is None:
            fail('Error from server (NotFound): %s "%s" not found' % (args[1], args[2]))
        n = state["objects"].setdefault("listed:" + key, 0)
        state["objects"]["listed:" + key] = n + 1
        status = steps[-1]["status"]
        for step in steps:
            if n < step.get("lists", 1 << 30):
                status = step["status"]
                break
            n -= step.get("lists", 1 << 30)
        out.append(json.dumps({"metadata": {"name": args[2]}, "status": status}))
    elif verb == "delete":
        if "-l" in args:
            out.append('deleted everything labelled %s' % args[args.index("-l") + 1])
            for pod in state["pods"].values():
                pod["gone"] = True
        else:
            name = args[2]
            pod = state["pods"].get(name)
            if pod and not pod["gone"]:
                if "--wait=true" in args or "--force" in args:
                    pod["gone"] = True
                elif pod["deleted_at"] is None:
                    pod["deleted_at"] = state["lists"]
                out.append('pod "%s" deleted' % name)
            elif "--ignore-not-found" not in args:
                fail('Error from server (NotFound): pods "%s" not found' % name)
    elif verb == "logs":
        if "-l" in args:
            for pod in state["pods"].values():
                if not pod["gone"]:
                    out.append("[pod/%s/main] fake log of %s, attempt %d" % (pod["name"], pod["name"], pod["attempt"] + 1))
        else:
            pod = state["pods"].get(args[1])
            if not pod or pod["gone"]:
                fail('Error from server (NotFound): pods "%s" not found' % args[1])
            out.append("fake log of %s, attempt %d" % (pod["name"], pod["attempt"] + 1))
    else:
        fail("fake kubectl: unsupported call: %s" % " ".join(argv))
    with open(state_path + ".tmp", "w") as f:
        json.dump(state, f)
    os.replace(state_path + ".tmp", state_path)
    if out:
        print("\n".join(out))


if __name__ == "__main__":
    main()
