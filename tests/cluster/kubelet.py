#!/usr/bin/python3
"""A test harness that plays kubelet, kube-proxy, cluster DNS and the Job and JobSet controllers for
the objects `ringmaster render` prints, on this machine (issue 27; docs/cluster-harness.md).

Each Pod becomes a process tree in a network namespace of its own (a veth on a bridge in a "switch"
namespace, an address of a private /24), with its own mount and UTS namespaces: its hostname is the
Pod's, /etc/hosts answers every name cluster DNS would answer for it (its search domains applied),
its volumes (Secret, ConfigMap, emptyDir, hostPath, a claim) are mounted at their mountPath, its
working directory is its own. The env is the container's, with valueFrom resolved (secretKeyRef,
configMapKeyRef, fieldRef: metadata.name, namespace, labels, annotations, status.podIP) and $(VAR)
expanded in env, command and args as the kubelet does; cpu limits become CPU affinity; restartPolicy
is honoured. batch/v1 Jobs become their Pods (Indexed completions with JOB_COMPLETION_INDEX and the
completion-index annotation) after the plain Pods have started, as the MPIJob launcher waits for its
workers; a JobSet becomes its Jobs and the headless Service of its subdomain, replicated Jobs started
in dependsOn order (Ready: every Pod started; Complete: every Pod succeeded).

The "image" is this machine's filesystem plus what the ringmaster image adds (Dockerfile): the
built binaries in /usr/local/bin, the examples in /opt/ringmaster/examples, the user ringmaster
(uid 1000) and its home /home/ringmaster (the WORKDIR, one per Pod), the ssh client and server
settings (port 2222, a host key in the home, no host key checking), OMPI_MCA_plm_rsh_agent=ssh.
Containers run as the securityContext's runAsUser (root when it says none), in its fsGroup, whose
group the Secret and ConfigMap files then belong to.

Usage: kubelet.py RENDERED.yaml... --bin-dir DIR --workdir DIR [--until REGEX] [--tbf POD-REGEX=RATE]
                  [--timeout SECONDS] [--subnet A.B.C]
The run ends when every Pod whose name matches --until (default: the job's primary Pods: a JobSet's
successPolicy targets, else those labelled job-role master, else every Pod meant to end: not a
parameter server, an sshd or a restartPolicy Always server) has succeeded (exit 0) or one has failed
for good (exit 1). The other Pods are then stopped (cleanPodPolicy Running). It prints a line per
Pod event and, at the end, one JSON line: {"pods": {NAME: {phase, exitCode, restarts, ip, log}},
"seconds": S, "result": Succeeded|Failed}. Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN); exits 77
without.
"""

import argparse
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import yaml

DEFAULT_SEARCHES = ["{ns}.svc.cluster.local", "svc.cluster.local", "cluster.local"]

# What `kubectl exec POD [-c C] [-i] [-t] -- CMD...` does, played: CMD in the Pod's network, mount
# and UTS namespaces, its working directory and environment (the API server and the kubelet's exec
# stream are not played).
KUBECTL_EXEC = """#!/usr/bin/python3
import json, os, sys
args = sys.argv[1:]
if args[:1] != ["exec"] or "--" not in args:
    sys.exit("kubectl (tests/cluster/kubelet.py): only `kubectl exec POD -- CMD` is played, not " + " ".join(args))
pod = [a for a in args[1:args.index("--")] if not a.startswith("-")][0]
pid = json.load(open("PID_MAP")).get(pod)
if pid is None:
    sys.exit(f"Error from server (NotFound): pods \\"{pod}\\" not found")
env = dict(kv.split("=", 1) for kv in open(f"/proc/{pid}/environ").read().split("\\0") if "=" in kv)
os.execvpe("nsenter", ["nsenter", "-t", str(pid), "-n", "-m", "-u", "-w", "--"] + args[args.index("--") + 1:], env)
"""


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(*argv, check=True, **kw):
    r = subprocess.run(list(argv), capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


class Pod:
    def __init__(self, spec, meta, owner=None, index=None):
        self.meta = meta
        self.spec = spec
        self.name = meta["name"]
        self.namespace = meta.get("namespace", "default")
        self.labels = dict(meta.get("labels") or {})
        self.annotations = dict(meta.get("annotations") or {})
        self.owner = owner          # ("Job", name) or ("JobSet", name, replicatedJob)
        self.index = index          # completion index
        self.ip = None
        self.netns = None
        self.phase = "Pending"
        self.exit_code = None
        self.restarts = 0
        self.started = None
        self.ended = None
        self.proc = None
        self.backoff_limit = None   # a Job's: failures before the Pod fails for good
        self.thread = None

    @property
    def hostname(self):
        return self.spec.get("hostname") or self.name

    @property
    def subdomain(self):
        return self.spec.get("subdomain")


class Cluster:
    def __init__(self, args):
        self.args = args
        self.work = os.path.abspath(args.workdir)
        self.tag = "rmk%d" % (os.getpid() % 100000)
        self.switch = self.tag + "sw"
        self.subnet = args.subnet
        self.secrets, self.configmaps, self.services = {}, {}, []
        self.pods, self.jobs, self.jobsets, self.ignored = [], [], [], []
        self.success_targets = []  # a JobSet's successPolicy Pods
        self.created_dirs = []
        self.lock = threading.Lock()
        self.stopping = False
        self.cpus = sorted(os.sched_getaffinity(0))
        self.next_cpu = 0

    # ---- objects ----------------------------------------------------------------------------
    def load(self, files):
        for f in files:
            with open(f) as fh:
                for doc in yaml.safe_load_all(fh):
                    if doc:
                        self.add(doc, f)

    def add(self, doc, where):
        kind, meta = doc.get("kind"), doc.get("metadata") or {}
        if kind == "Secret":
            data = {k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()}
            data.update(doc.get("stringData") or {})
            self.secrets[meta["name"]] = data
        elif kind == "ConfigMap":
            self.configmaps[meta["name"]] = dict(doc.get("data") or {})
        elif kind == "Service":
            self.services.append(doc)
        elif kind == "Pod":
            self.pods.append(Pod(doc["spec"], meta))
        elif kind == "Job" and doc.get("apiVersion") == "batch/v1":
            self.jobs.append(doc)
        elif kind == "JobSet":
            self.jobsets.append(doc)
        else:
            self.ignored.append(f"{kind} {meta.get('name')}")

    def expand_job(self, job, extra_labels=None, extra_annotations=None, hostname_prefix=None, subdomain=None,
                   owner=None):
        """A batch/v1 Job's Pods, as the Job controller creates them."""
        spec = job["spec"]
        tmpl = spec["template"]
        completions = spec.get("completions", 1)
        indexed = spec.get("completionMode") == "Indexed" or hostname_prefix is not None
        pods = []
        for i in range(completions if indexed else 1):
            meta = {"name": f"{job['metadata']['name']}-{i}" if indexed else job["metadata"]["name"] + "-pod",
                    "namespace": job["metadata"].get("namespace", "default"),
                    "labels": dict((tmpl.get("metadata") or {}).get("labels") or {}),
                    "annotations": dict((tmpl.get("metadata") or {}).get("annotations") or {})}
            meta["labels"].update(extra_labels or {})
            meta["labels"]["job-name"] = job["metadata"]["name"]
            meta["annotations"].update(extra_annotations or {})
            pspec = json.loads(json.dumps(tmpl["spec"]))
            if indexed:
                meta["annotations"]["batch.kubernetes.io/job-completion-index"] = str(i)
                meta["labels"]["batch.kubernetes.io/job-completion-index"] = str(i)
                for c in pspec.get("containers", []):
                    c.setdefault("env", []).append({"name": "JOB_COMPLETION_INDEX", "value": str(i)})
            if hostname_prefix is not None:
                pspec["hostname"] = f"{hostname_prefix}-{i}"
            if subdomain:
                pspec["subdomain"] = subdomain
            p = Pod(pspec, meta, owner or ("Job", job["metadata"]["name"]), i if indexed else None)
            p.backoff_limit = spec.get("backoffLimit", 6)
            pods.append(p)
        return pods

    def expand(self):
        """Jobs and JobSets into Pods; the JobSet's headless Service. Returns the start groups:
        [(pods, wait_for)] in order, wait_for a list of (pods, "Ready"|"Complete")."""
        groups = [(list(self.pods), [])]
        plain = list(self.pods)
        for job in self.jobs:
            pods = self.expand_job(job)
            self.pods += pods
            groups.append((pods, [(plain, "Ready")] if plain else []))
        for js in self.jobsets:
            name = js["metadata"]["name"]
            ns = js["metadata"].get("namespace", "default")
            spec = js["spec"]
            subdomain = (spec.get("network") or {}).get("subdomain") or name
            self.services.append({"metadata": {"name": subdomain, "namespace": ns},
                                  "spec": {"clusterIP": "None", "selector": {"jobset.sigs.k8s.io/jobset-name": name}}})
            by_rjob = {}
            for rj in spec["replicatedJobs"]:
                rj_pods = []
                for j in range(rj.get("replicas", 1)):
                    job_name = f"{name}-{rj['name']}-{j}"
                    job = {"metadata": {"name": job_name, "namespace": ns}, "spec": dict(rj["template"]["spec"])}
                    job["spec"]["template"] = json.loads(json.dumps(rj["template"]["spec"]["template"]))
                    # The JobSet webhook's defaults (kubernetes-sigs/jobset pkg/webhooks/jobset_webhook.go
                    # Default): Indexed completions, restartPolicy OnFailure.
                    job["spec"]["template"]["spec"].setdefault("restartPolicy", "OnFailure")
                    job["spec"]["completionMode"] = "Indexed"
                    job["spec"].setdefault("completions", job["spec"].get("parallelism", 1))
                    labels = {"jobset.sigs.k8s.io/jobset-name": name, "jobset.sigs.k8s.io/replicatedjob-name": rj["name"],
                              "jobset.sigs.k8s.io/job-index": str(j)}
                    labels.update((rj["template"].get("metadata") or {}).get("labels") or {})
                    rj_pods += self.expand_job(job, labels, {"jobset.sigs.k8s.io/job-index": str(j)}, job_name,
                                               subdomain, ("JobSet", name, rj["name"]))
                by_rjob[rj["name"]] = rj_pods
                targets = (spec.get("successPolicy") or {}).get("targetReplicatedJobs") or [r["name"] for r in spec["replicatedJobs"]]
                if rj["name"] in targets:  # successPolicy (operator All, the default): these Pods' success ends it
                    self.success_targets += rj_pods
                self.pods += rj_pods
                waits = [(by_rjob[d["name"]], d.get("status", "Ready")) for d in rj.get("dependsOn") or []]
                groups.append((rj_pods, waits))
        return groups

    # ---- DNS ----------------------------------------------------------------------------------
    def records(self):
        """FQDN -> [IP], as cluster DNS answers."""
        rec = {}
        for svc in self.services:
            ns = svc["metadata"].get("namespace", "default")
            sel = (svc.get("spec") or {}).get("selector") or {}
            chosen = [p for p in self.pods if sel and p.namespace == ns and all(p.labels.get(k) == str(v) for k, v in sel.items())]
            if (svc.get("spec") or {}).get("clusterIP") not in ("None", None):
                for port in (svc["spec"].get("ports") or []):
                    if port.get("targetPort", port["port"]) != port["port"]:
                        raise RuntimeError(f"Service {svc['metadata']['name']}: port {port['port']} -> targetPort "
                                           f"{port['targetPort']}: the harness plays no kube-proxy translation")
            fqdn = f"{svc['metadata']['name']}.{ns}.svc.cluster.local"
            rec.setdefault(fqdn, []).extend(p.ip for p in chosen)
            for p in chosen:  # a selected Pod with hostname and subdomain naming this Service
                if p.subdomain == svc["metadata"]["name"]:
                    rec.setdefault(f"{p.hostname}.{p.subdomain}.{ns}.svc.cluster.local", []).append(p.ip)
        return rec

    def hosts_file(self, pod, rec):
        searches = [s.format(ns=pod.namespace) for s in DEFAULT_SEARCHES]
        searches = ((pod.spec.get("dnsConfig") or {}).get("searches") or []) + searches
        lines = ["127.0.0.1 localhost", "::1 localhost"]
        own = [pod.hostname]
        if pod.subdomain:
            own.insert(0, f"{pod.hostname}.{pod.subdomain}.{pod.namespace}.svc.cluster.local")
        lines.append(f"{pod.ip} {' '.join(own)}")
        for fqdn, ips in sorted(rec.items()):
            names = [fqdn] + [fqdn[: -len(s) - 1] for s in searches if fqdn.endswith("." + s)]
            for ip in ips:
                lines.append(f"{ip} {' '.join(dict.fromkeys(names))}")
        return "\n".join(lines) + "\n"

    # ---- network ------------------------------------------------------------------------------
    def network_up(self):
        if sh("ip", "netns", "add", self.switch, check=False).returncode != 0:
            print("SKIP: cannot create network namespaces here (needs root / CAP_NET_ADMIN)")
            sys.exit(77)
        sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.switch, "link", "set", "br0", "up")
        for i, p in enumerate(self.pods):
            p.netns = f"{self.tag}p{i}"
            p.ip = f"{self.subnet}.{i + 2}"
            sh("ip", "netns", "add", p.netns)
            sh("ip", "link", "add", f"{self.tag}a{i}", "type", "veth", "peer", "name", f"{self.tag}b{i}")
            sh("ip", "link", "set", f"{self.tag}a{i}", "netns", p.netns)
            sh("ip", "link", "set", f"{self.tag}b{i}", "netns", self.switch)
            sh("ip", "-n", p.netns, "link", "set", "lo", "up")
            sh("ip", "-n", p.netns, "link", "set", f"{self.tag}a{i}", "name", "eth0")
            sh("ip", "-n", p.netns, "addr", "add", f"{p.ip}/24", "dev", "eth0")
            sh("ip", "-n", p.netns, "link", "set", "eth0", "up")
            sh("ip", "-n", self.switch, "link", "set", f"{self.tag}b{i}", "master", "br0")
            sh("ip", "-n", self.switch, "link", "set", f"{self.tag}b{i}", "up")
            for rx, rate in self.args.tbf:
                if re.fullmatch(rx, p.name):  # both directions: the Pod's egress and the switch port's
                    # A bucket of 4 ms at the rate (at least 64 KiB): smaller ones cannot reach a Gbit/s
                    # rate at the kernel's timer resolution.
                    burst = max(64 * 1024, int(parse_rate(rate) / 8 * 0.004))
                    for ns, dev in ((p.netns, "eth0"), (self.switch, f"{self.tag}b{i}")):
                        sh("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", rate,
                           "burst", str(burst), "latency", "100ms")
                    log(f"pod {p.name}: link limited to {rate}")

    def network_down(self):
        for p in self.pods:
            if p.netns:
                self.kill_netns(p)
                sh("ip", "netns", "del", p.netns, check=False)
                shutil.rmtree(f"/etc/netns/{p.netns}", ignore_errors=True)
        sh("ip", "netns", "del", self.switch, check=False)

    @staticmethod
    def kill_netns(p):
        r = sh("ip", "netns", "pids", p.netns, check=False)
        for pid in r.stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass

    # ---- the image ----------------------------------------------------------------------------
    def image_overlay(self):
        """What the ringmaster image adds to a Debian system (Dockerfile), as files and directories to
        mount over the machine's: the binaries in /usr/local/bin, the examples, the user ringmaster
        (uid 1000, home /home/ringmaster, the WORKDIR), and its sshd and ssh settings (port 2222, a host
        key under the home, no host key checking)."""
        img = os.path.join(self.work, "image")
        bin_dir = os.path.join(img, "usr-local-bin")
        os.makedirs(bin_dir, exist_ok=True)
        for b in ("ringmaster", "ringmaster-ps", "ringmaster-dashboard"):
            src = os.path.join(os.path.abspath(self.args.bin_dir), b)
            if os.path.exists(src) and not os.path.exists(os.path.join(bin_dir, b)):
                os.symlink(src, os.path.join(bin_dir, b))
        sshd_d, ssh_d = os.path.join(img, "sshd_config.d"), os.path.join(img, "ssh_config.d")
        os.makedirs(sshd_d, exist_ok=True)
        os.makedirs(ssh_d, exist_ok=True)
        with open(os.path.join(sshd_d, "ringmaster.conf"), "w") as f:
            f.write("Port 2222\nHostKey /home/ringmaster/.sshd/host_ed25519\nPidFile /home/ringmaster/.sshd/sshd.pid\n"
                    "PasswordAuthentication no\nStrictModes no\nUsePAM no\nAuthorizedKeysFile .ssh/authorized_keys\n")
        with open(os.path.join(ssh_d, "ringmaster.conf"), "w") as f:
            f.write("Host *\n  Port 2222\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n")
        self.host_key = os.path.join(img, "host_ed25519")
        if not os.path.exists(self.host_key):
            sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.host_key)
        # The image's users: the machine's, with ringmaster as uid 1000.
        for name, line in (("passwd", "ringmaster:x:1000:1000::/home/ringmaster:/bin/bash"), ("group", "ringmaster:x:1000:")):
            with open(f"/etc/{name}") as f:
                kept = [l for l in f if l.split(":")[0] != "ringmaster" and l.split(":")[2] != "1000"]
            with open(os.path.join(img, name), "w") as f:
                f.writelines(kept + [line + "\n"])
        # `kubectl exec POD -- CMD` for MPIJob v1alpha2's kubexec.sh, which the kubectl-delivery init
        # container would put in place: CMD runs in the Pod's namespaces with its environment.
        self.pid_map = os.path.join(img, "pods.json")
        self.kubectl = os.path.join(img, "kubectl")
        with open(self.kubectl, "w") as f:
            f.write(KUBECTL_EXEC.replace("PID_MAP", self.pid_map))
        os.chmod(self.kubectl, 0o755)
        examples = os.path.join(self.args.source_dir, "examples")
        return [(bin_dir, "/usr/local/bin"), (sshd_d, "/etc/ssh/sshd_config.d"), (ssh_d, "/etc/ssh/ssh_config.d"),
                (os.path.join(img, "passwd"), "/etc/passwd"), (os.path.join(img, "group"), "/etc/group"),
                (examples, "/opt/ringmaster/examples")]

    def home_of(self, pod_dir):
        """The Pod's /home/ringmaster, as the image made it: owned by ringmaster, its sshd host key in it."""
        home = os.path.join(pod_dir, "home")
        os.makedirs(os.path.join(home, ".sshd"), exist_ok=True)
        os.makedirs(os.path.join(home, ".ssh"), exist_ok=True)
        shutil.copy(self.host_key, os.path.join(home, ".sshd", "host_ed25519"))
        for root, dirs, files in os.walk(home):
            for n in dirs + files:
                os.chown(os.path.join(root, n), 1000, 1000)
        os.chown(home, 1000, 1000)
        os.chmod(os.path.join(home, ".sshd", "host_ed25519"), 0o600)
        return home

    # ---- a Pod --------------------------------------------------------------------------------
    def volume_dirs(self, pod, pod_dir):
        """Each volume's directory on this machine. With fsGroup, a Secret's or ConfigMap's files are
        the group's and group-readable, as the kubelet's SetVolumeOwnership leaves them
        (kubernetes pkg/volume/volume_linux.go)."""
        fs_group = (pod.spec.get("securityContext") or {}).get("fsGroup")
        vols = {}
        for v in pod.spec.get("volumes") or []:
            d = os.path.join(pod_dir, "volumes", v["name"])
            if "secret" in v or "configMap" in v:
                src = v.get("secret") or v.get("configMap")
                data = self.secrets.get(src.get("secretName")) if "secret" in v else self.configmaps.get(src.get("name"))
                if data is None:
                    raise RuntimeError(f"pod {pod.name}: volume {v['name']}: no such "
                                       f"{'Secret' if 'secret' in v else 'ConfigMap'}")
                os.makedirs(d, exist_ok=True)
                os.chmod(d, 0o700)
                items = src.get("items") or [{"key": k, "path": k} for k in data]
                for it in items:
                    path = os.path.join(d, it["path"])
                    with open(path, "w") as f:
                        f.write(data[it["key"]])
                    mode = it.get("mode", src.get("defaultMode", 0o644))
                    if fs_group is not None:
                        os.chown(path, 0, fs_group)
                        mode |= 0o040
                    os.chmod(path, mode)
                if fs_group is not None:
                    os.chown(d, 0, fs_group)
                    os.chmod(d, 0o2750)
            elif "emptyDir" in v:
                os.makedirs(d, exist_ok=True)
            elif "hostPath" in v:
                d = v["hostPath"]["path"]
            elif "persistentVolumeClaim" in v:
                d = os.path.join(self.work, "claims", v["persistentVolumeClaim"]["claimName"])
                os.makedirs(d, exist_ok=True)
            else:
                raise RuntimeError(f"pod {pod.name}: volume {v['name']}: a kind the harness does not play")
            vols[v["name"]] = d
        return vols

    def env_of(self, pod, c):
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
               "OMPI_MCA_plm_rsh_agent": "ssh",  # the image's ENV (Dockerfile)
               "HOSTNAME": pod.hostname}
        if "OPENBLAS_CORETYPE" in os.environ:  # this machine's CPU quirk, as its image would set it
            env["OPENBLAS_CORETYPE"] = os.environ["OPENBLAS_CORETYPE"]

        def field(path):
            m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
            if m:
                return (pod.labels if m.group(1) == "labels" else pod.annotations).get(m.group(2), "")
            return {"metadata.name": pod.name, "metadata.namespace": pod.namespace, "status.podIP": pod.ip,
                    "spec.nodeName": pod.netns, "status.hostIP": pod.ip}[path]

        for e in c.get("env") or []:
            if "value" in e:
                env[e["name"]] = expand(str(e["value"]), env)
            elif "valueFrom" in e:
                vf = e["valueFrom"]
                if "secretKeyRef" in vf:
                    env[e["name"]] = self.secrets[vf["secretKeyRef"]["name"]][vf["secretKeyRef"]["key"]]
                elif "configMapKeyRef" in vf:
                    env[e["name"]] = self.configmaps[vf["configMapKeyRef"]["name"]][vf["configMapKeyRef"]["key"]]
                elif "fieldRef" in vf:
                    env[e["name"]] = field(vf["fieldRef"]["fieldPath"])
                elif "resourceFieldRef" in vf:
                    env[e["name"]] = str(((c.get("resources") or {}).get("limits") or {}).get(
                        vf["resourceFieldRef"]["resource"].split(".")[-1], ""))
            else:
                env[e["name"]] = ""
        return env

    def cpu_list(self, c):
        limit = ((c.get("resources") or {}).get("limits") or {}).get("cpu")
        if limit is None:
            return ",".join(map(str, self.cpus))
        want = max(1, int(-(-parse_cpu(limit) // 1)))
        with self.lock:
            chosen = [self.cpus[(self.next_cpu + k) % len(self.cpus)] for k in range(min(want, len(self.cpus)))]
            self.next_cpu += want
        return ",".join(map(str, sorted(set(chosen))))

    def start(self, pod, overlay):
        containers = pod.spec.get("containers") or []
        if len(containers) != 1:
            raise RuntimeError(f"pod {pod.name}: {len(containers)} containers: the harness plays one")
        c = containers[0]
        for init in pod.spec.get("initContainers") or []:
            if not init.get("image", "").startswith("mpioperator/kubectl-delivery"):
                raise RuntimeError(f"pod {pod.name}: init container {init['name']}: the harness plays only "
                                   f"mpioperator/kubectl-delivery")
        if not c.get("command"):
            raise RuntimeError(f"pod {pod.name}: container {c['name']} has no command: the harness plays no "
                               f"image's entrypoint (the ringmaster image's CMD is `ringmaster --help`)")
        pod_dir = os.path.join(self.work, "pods", pod.name)
        os.makedirs(pod_dir, exist_ok=True)
        vols = self.volume_dirs(pod, pod_dir)
        for init in pod.spec.get("initContainers") or []:  # kubectl-delivery: kubectl into its volume
            for m in init.get("volumeMounts") or []:
                shutil.copy(self.kubectl, os.path.join(vols[m["name"]], "kubectl"))
        env = self.env_of(pod, c)
        argv = [expand(a, env) for a in (c.get("command") or []) + (c.get("args") or [])]
        mounts = list(overlay) + [(self.home_of(pod_dir), "/home/ringmaster")]
        for m in c.get("volumeMounts") or []:
            src = vols[m["name"]]
            if m.get("subPath"):
                src = os.path.join(src, m["subPath"])
            mounts.append((src, m["mountPath"]))
        workdir = c.get("workingDir") or "/home/ringmaster"  # the image's WORKDIR
        # securityContext: the container's over the Pod's; root when neither says (the harness does
        # not read the image's USER).
        psc, csc = pod.spec.get("securityContext") or {}, c.get("securityContext") or {}
        uid = csc.get("runAsUser", psc.get("runAsUser", 0))
        gid = csc.get("runAsGroup", psc.get("runAsGroup", uid))
        groups = [g for g in (gid, psc.get("fsGroup")) if g is not None]
        user = [] if uid == 0 else ["setpriv", f"--reuid={uid}", f"--regid={gid}",
                                    "--groups=" + ",".join(map(str, dict.fromkeys(groups))), "--"]
        if uid != 0:
            env["HOME"] = "/home/ringmaster" if uid == 1000 else "/"
        for src, target in mounts:
            if os.path.isfile(src):
                if not os.path.exists(target):  # a file's mount point is a file
                    self.ensure_dir(os.path.dirname(target))
                    open(target, "a").close()
                    with self.lock:
                        self.created_dirs.append(target)
            else:
                self.ensure_dir(target)
        self.ensure_dir("/run/sshd")  # sshd's privilege separation directory, as its package makes it
        self.ensure_dir(f"/etc/netns/{pod.netns}")  # `ip netns exec` mounts its files over /etc
        with open(f"/etc/netns/{pod.netns}/hosts", "w") as f:
            f.write(self.hosts_file(pod, self.rec))
        setup = [f"hostname {pod.hostname}"]
        setup += [f"mount --bind {q(src)} {q(dst)}" for src, dst in mounts]
        setup += [f"cd {q(workdir)}", f"exec taskset -c {self.cpu_list(c)} \"$@\""]
        pod.argv = ["ip", "netns", "exec", pod.netns, "unshare", "--uts", "--", "/bin/sh", "-ec", " && ".join(setup),
                    "sh"] + user + argv
        pod.shown = " ".join(argv)
        pod.env = env
        pod.log = os.path.join(pod_dir, "log")
        pod.thread = threading.Thread(target=self.run_pod, args=(pod,), daemon=True)
        pod.thread.start()

    def ensure_dir(self, path):
        if not os.path.isdir(path):
            missing = path
            while not os.path.isdir(os.path.dirname(missing)):
                missing = os.path.dirname(missing)
            os.makedirs(path, exist_ok=True)
            with self.lock:
                self.created_dirs.append(missing)

    def record_pid(self, pod):
        with self.lock:
            pids = {p.name: p.proc.pid for p in self.pods if p.proc and p.proc.poll() is None}
            with open(self.pid_map + ".new", "w") as f:
                json.dump(pids, f)
            os.replace(self.pid_map + ".new", self.pid_map)

    def run_pod(self, pod):
        policy = pod.spec.get("restartPolicy", "Always")
        failures = 0
        while not self.stopping:
            with open(pod.log, "a") as out:
                pod.proc = subprocess.Popen(pod.argv, env=pod.env, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
                pod.phase, pod.started = "Running", pod.started or time.time()
                self.record_pid(pod)
                log(f"pod {pod.name} ({pod.ip}) running: {pod.shown[:160]}")
                code = pod.proc.wait()
            if self.stopping:
                return
            pod.exit_code = code
            if code == 0 and policy != "Always":
                pod.phase, pod.ended = "Succeeded", time.time()
                log(f"pod {pod.name} succeeded")
                return
            failures += code != 0
            limit = pod.backoff_limit if pod.backoff_limit is not None else 6
            if policy == "Never" and pod.owner is None or failures > limit:
                pod.phase, pod.ended = "Failed", time.time()
                log(f"pod {pod.name} failed (exit {code}): {tail(pod.log)}")
                return
            pod.restarts += 1
            log(f"pod {pod.name} exited {code}: restart {pod.restarts}")
            self.kill_netns(pod)
            time.sleep(min(10, 0.5 * 2 ** (pod.restarts - 1)))

    # ---- the run ------------------------------------------------------------------------------
    def primary(self):
        if self.args.until:
            return [p for p in self.pods if re.fullmatch(self.args.until, p.name)]
        if self.success_targets:
            return self.success_targets
        masters = [p for p in self.pods if p.labels.get("training.kubeflow.org/job-role") == "master"]
        if masters:
            return masters
        # Else every Pod that is meant to end: not a server (restartPolicy Always), a parameter
        # server or an sshd.
        return [p for p in self.pods if p.labels.get("training.kubeflow.org/replica-type") not in ("ps",)
                and p.spec.get("restartPolicy", "Always") != "Always"
                and not (p.spec.get("containers") or [{}])[0].get("command", [""])[0].endswith("sshd")]

    def run(self):
        groups = self.expand()
        for what in self.ignored:
            log(f"ignored: {what} (nothing for a kubelet to do)")
        overlay = self.image_overlay()
        self.network_up()
        self.rec = self.records()
        t0 = time.time()
        pending = list(groups)
        target = self.primary()
        log(f"{len(self.pods)} pods; the run ends with {', '.join(p.name for p in target)}")
        deadline = t0 + self.args.timeout
        result = None
        while result is None:
            for g in list(pending):
                pods, waits = g
                if all(ready(ps, status) for ps, status in waits):
                    for p in pods:
                        self.start(p, overlay)
                    pending.remove(g)
            if any(p.phase == "Failed" for p in target):
                result = 1
            elif all(p.phase == "Succeeded" for p in target):
                result = 0
            elif time.time() > deadline:
                log(f"timed out after {self.args.timeout} s")
                result = 1
            else:
                time.sleep(0.1)
        seconds = time.time() - t0
        self.stopping = True
        for p in self.pods:
            if p.netns:
                self.kill_netns(p)
        for p in self.pods:
            if p.thread:
                p.thread.join(timeout=10)
        report = {"pods": {p.name: {"phase": p.phase, "exitCode": p.exit_code, "restarts": p.restarts, "ip": p.ip,
                                    "log": getattr(p, "log", None)} for p in self.pods},
                  "seconds": round(seconds, 2), "result": "Succeeded" if result == 0 else "Failed"}
        print(json.dumps(report), flush=True)
        return result

    def cleanup(self):
        self.stopping = True
        self.network_down()
        for d in reversed(self.created_dirs):
            if os.path.isdir(d):
                shutil.rmtree(d, ignore_errors=True)
            elif os.path.exists(d):
                os.remove(d)


def ready(pods, status):
    if status == "Complete":
        return all(p.phase == "Succeeded" for p in pods)
    return all(p.phase in ("Running", "Succeeded") for p in pods)


def expand(s, env):
    """$(VAR) as the kubelet expands it: a defined variable's value; $$ is a literal $."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), s)


def parse_rate(v):
    """tc's rate ("200mbit", "1gbit", "10kbit") in bits per second."""
    m = re.fullmatch(r"([0-9.]+)([kmg]?)bit", v.lower())
    if not m:
        raise RuntimeError(f"--tbf: expected a rate such as 1gbit or 200mbit, found {v!r}")
    return float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2)]


def parse_cpu(v):
    v = str(v)
    return float(v[:-1]) / 1000 if v.endswith("m") else float(v)


def q(s):
    return "'" + s.replace("'", "'\\''") + "'"


def tail(path, n=400):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - n))
            return f.read().decode(errors="replace").strip().replace("\n", " | ")
    except OSError:
        return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--bin-dir", required=True, help="where ringmaster was built (the image's /usr/local/bin)")
    ap.add_argument("--source-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--until", help="a regular expression of the Pods whose success ends the run")
    ap.add_argument("--tbf", action="append", default=[], type=lambda s: tuple(s.split("=", 1)),
                    help="POD-REGEX=RATE: that Pod's link through a tc token bucket (e.g. 1gbit)")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--subnet", default="10.%d.%d" % (214 + os.getpid() % 20, os.getpid() % 250))
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("SKIP: the harness needs root (network and mount namespaces)")
        return 77
    cluster = Cluster(args)
    cluster.load(args.files)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        return cluster.run()
    except RuntimeError as e:
        print(f"harness: {e}", flush=True)
        return 2
    finally:
        cluster.cleanup()


if __name__ == "__main__":
    sys.exit(main())
