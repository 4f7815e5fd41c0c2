#!/usr/bin/python3
"""Writes the part of the Kubernetes OpenAPI v2 spec that our schema checks use: the definitions of
the kinds `ringmaster render` writes (Pod, Service, Secret, ConfigMap, batch/v1 Job, and the
ServiceAccount/Role/RoleBinding an MPIJob may need), ObjectMeta (the Kubeflow CRDs refer to it),
the Kubernetes types Katib's schema refers to, and everything those refer to, unchanged.
The full spec (3.3 MB) stays in ../shared/k8s-schemas; this subset is what the repository carries.

Usage: tools/trim_k8s_swagger.py ../shared/k8s-schemas/k8s/swagger-v1.32.json \
           third_party/k8s-schemas/k8s/swagger-v1.32.subset.json"""
import json
import sys

KINDS = {("", "v1", "Pod"), ("", "v1", "Service"), ("", "v1", "Secret"), ("", "v1", "ConfigMap"),
         ("batch", "v1", "Job"), ("", "v1", "ServiceAccount"),
         ("rbac.authorization.k8s.io", "v1", "Role"), ("rbac.authorization.k8s.io", "v1", "RoleBinding")}
# validate.py: OBJECTMETA and the targets of KATIB_EXTERNAL.
EXTRA = ["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
         "io.k8s.apimachinery.pkg.apis.meta.v1.Time", "io.k8s.api.core.v1.Container",
         "io.k8s.api.core.v1.HTTPGetAction"]


def refs(node, out):
    if isinstance(node, dict):
        r = node.get("$ref")
        if isinstance(r, str) and r.startswith("#/definitions/"):
            out.append(r[len("#/definitions/"):])
        for v in node.values():
            refs(v, out)
    elif isinstance(node, list):
        for v in node:
            refs(v, out)


def main():
    source, target = sys.argv[1], sys.argv[2]
    with open(source) as f:
        spec = json.load(f)
    defs = spec["definitions"]
    todo = [n for n, d in defs.items()
            if any((g["group"], g["version"], g["kind"]) in KINDS for g in d.get("x-kubernetes-group-version-kind", []))]
    todo += EXTRA
    keep = {}
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep[name] = defs[name]
        refs(defs[name], todo)
    out = {"swagger": spec.get("swagger"), "info": spec.get("info"),
           "x-ringmaster-subset-of": "kubernetes/kubernetes release-1.32 api/openapi-spec/swagger.json "
                                     "(tools/trim_k8s_swagger.py)",
           "definitions": dict(sorted(keep.items()))}
    with open(target, "w") as f:
        json.dump(out, f, separators=(",", ":"), sort_keys=False)
        f.write("\n")
    print(f"{target}: {len(keep)} of {len(defs)} definitions")


if __name__ == "__main__":
    main()
