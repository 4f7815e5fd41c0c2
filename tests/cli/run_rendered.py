#!/usr/bin/python3
"""Runs the Pods of a rendered job (`ringmaster render` output) as local processes, with the env the
render gave each: cluster host names in TF_CONFIG become 127.0.0.1 with a free port per replica
(every pod listens on the same port in a cluster), MASTER_ADDR likewise, the token Secret reference becomes a value, and
`extra` flags are appended to each command. Exits with the first non-zero exit status, else 0;
prints each pod's last output line and writes its whole output to <dir of RENDERED>/<pod>/output.log. Usage: run_rendered.py RENDERED.yaml RINGMASTER_BINARY [FLAG...]"""
import json
import os
import socket
import subprocess
import sys

import yaml


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    rendered, binary, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
    docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
    pods = [d for d in docs if d["kind"] == "Pod"]
    ports = {}
    procs = []
    for pod in pods:
        c = pod["spec"]["containers"][0]
        env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
        for e in c.get("env", []):
            if "value" in e:
                env[e["name"]] = e["value"]
            elif e["name"] == "RINGMASTER_JOB_TOKEN":
                env[e["name"]] = "rendered-test-token"
        if "MASTER_ADDR" in env:  # PyTorchJob: the master's Service name and port
            ports.setdefault("master", free_port())
            for k in ("MASTER_ADDR", "PET_MASTER_ADDR"):
                env[k] = "127.0.0.1"
            for k in ("MASTER_PORT", "PET_MASTER_PORT"):
                env[k] = str(ports["master"])
        if "TF_CONFIG" in env:
            config = json.loads(env["TF_CONFIG"])
            for kind, hosts in config["cluster"].items():
                mapped = []
                for h in hosts:
                    ports.setdefault(h, free_port())
                    mapped.append("127.0.0.1:%d" % ports[h])
                config["cluster"][kind] = mapped
            env["TF_CONFIG"] = json.dumps(config)
        argv = c.get("command", []) + c.get("args", []) + extra
        argv[0] = binary if argv[0] == "ringmaster" else argv[0]
        workdir = os.path.join(os.path.dirname(rendered), pod["metadata"]["name"])
        os.makedirs(workdir, exist_ok=True)
        procs.append((workdir, subprocess.Popen(argv, env=env, cwd=workdir, stdout=subprocess.PIPE,
                                                                stderr=subprocess.STDOUT, text=True)))
    status = 0
    for workdir, p in procs:
        name = os.path.basename(workdir)
        out, _ = p.communicate(timeout=300)
        with open(os.path.join(workdir, "output.log"), "w") as f:
            f.write(out)
        lines = [l for l in out.splitlines() if l.strip()]
        print("%s: exit %d: %s" % (name, p.returncode, lines[-1] if lines else ""))
        if p.returncode and not status:
            status = p.returncode
            print(out[-2000:])
    return status


if __name__ == "__main__":
    sys.exit(main())
