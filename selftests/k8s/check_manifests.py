#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Check packaging/k8s as kustomize renders it (harness/containers-test.sh
runs this in a Debian sid userland with kustomize, python3-yaml and
python3-jsonschema):

- the KMM variant is a Namespace and a Module, valid against KMM's Module
  schema (v1beta1, SCHEMA: written from KMM's documented fields), and the
  schema does reject broken Modules (so the check can fail);
- its kernel mappings are exactly the kernels with prebuilt packages
  (KERNELS, one release a line: what `make kmm-image` builds by default),
  and the KMM image at hand holds a module for some of them (RELEASES, from
  packaging/kmm-image.sh: all of them unless it was built for fewer), each
  mapping with the image of VERSION; modprobe loads ashmem_linux from /opt;
- the DaemonSet variant runs the same image privileged, loads with
  `modprobe -vd /opt ashmem_linux`, unloads in preStop;
- kustomize's `images:` override (the *-renamed renderings) renames the
  image in the Module and in the DaemonSet.

Writes OUTDIR/loader-command and OUTDIR/loader-prestop: the DaemonSet's
container command and preStop command as shell words, for the guest to run
word for word. Prints TAP; exits 1 when a case fails.

usage: check_manifests.py SCHEMA VERSION KERNELS RELEASES KMM DAEMONSET KMM-RENAMED DAEMONSET-RENAMED OUTDIR
"""
import copy
import json
import shlex
import sys

import jsonschema
import yaml

IMAGE = "ashmem-linux-kmm"
RENAMED = "registry.example.org/ashmem/ashmem-linux-kmm"

cases = []


def case(name, ok, *notes):
    cases.append(bool(ok))
    print("%s %d %s" % ("ok" if ok else "not ok", len(cases), name))
    for n in notes:
        for line in str(n).splitlines():
            print("#   " + line)


def docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def one(objs, kind):
    found = [o for o in objs if o.get("kind") == kind]
    return found[0] if len(found) == 1 else None


def errors(validator, obj):
    return sorted(e.message for e in validator.iter_errors(obj))


def main():
    if len(sys.argv) != 10:
        sys.exit(__doc__.strip().splitlines()[-1])
    (schema_path, version, kernels_path, releases_path, kmm_path, ds_path, kmm_ren, ds_ren,
     outdir) = sys.argv[1:]
    with open(schema_path) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    with open(kernels_path) as f:
        kernels = sorted(line.strip() for line in f if line.strip())
    with open(releases_path) as f:
        releases = sorted(line.strip() for line in f if line.strip())
    image = "%s:%s" % (IMAGE, version)

    print("1..7")
    kmm = docs(kmm_path)
    module = one(kmm, "Module")
    case("kmm_variant_renders_a_namespace_and_a_module",
         module and one(kmm, "Namespace") and len(kmm) == 2,
         "kinds: %s" % ", ".join(o.get("kind", "?") for o in kmm))
    module = module or {}
    errs = errors(validator, module)
    case("module_is_valid_against_kmms_module_schema_v1beta1", not errs, *errs)

    # Each breakage the schema must catch.
    broken = []
    m = copy.deepcopy(module)
    m.get("spec", {}).get("moduleLoader", {}).get("container", {}).pop("kernelMappings", None)
    broken.append(("no kernelMappings", m))
    m = copy.deepcopy(module)
    for km in m.get("spec", {}).get("moduleLoader", {}).get("container", {}).get("kernelMappings", [])[:1]:
        km.pop("containerImage", None)
    broken.append(("a mapping without containerImage", m))
    m = copy.deepcopy(module)
    for km in m.get("spec", {}).get("moduleLoader", {}).get("container", {}).get("kernelMappings", [])[:1]:
        km["regexp"] = "^.+$"
    broken.append(("a mapping with both literal and regexp", m))
    m = copy.deepcopy(module)
    mp = m.get("spec", {}).get("moduleLoader", {}).get("container", {}).get("modprobe", {})
    mp["modulename"] = mp.pop("moduleName", "")
    broken.append(("modprobe.modulename (misspelt)", m))
    m = copy.deepcopy(module)
    m.get("spec", {}).pop("selector", None)
    broken.append(("no selector", m))
    caught = [(what, errors(validator, m)) for what, m in broken]
    case("the_schema_rejects_broken_modules", all(e for _, e in caught),
         *["%s: %s" % (what, e[0] if e else "ACCEPTED") for what, e in caught])

    container = module.get("spec", {}).get("moduleLoader", {}).get("container", {})
    mappings = container.get("kernelMappings", [])
    literals = sorted(km.get("literal", "") for km in mappings)
    case("kernel_mappings_are_the_prebuilt_kernels_and_cover_the_kmm_image",
         literals == kernels and releases and set(releases) <= set(literals),
         "mappings: %s" % " ".join(literals), "kernels with prebuilt packages: %s" % " ".join(kernels),
         "the KMM image built here: %s" % " ".join(releases))
    images = sorted({km.get("containerImage") for km in mappings})
    mp = container.get("modprobe", {})
    case("every_mapping_loads_ashmem_linux_from_opt_in_the_image_of_this_version",
         images == [image] and mp.get("moduleName") == "ashmem_linux" and mp.get("dirName") == "/opt",
         "containerImage: %s; modprobe: %s" % (" ".join(map(str, images)), json.dumps(mp)))

    ds_docs = docs(ds_path)
    ds = one(ds_docs, "DaemonSet") or {}
    pod = ds.get("spec", {}).get("template", {}).get("spec", {})
    ctrs = pod.get("containers", [])
    c = ctrs[0] if len(ctrs) == 1 else {}
    command = c.get("command", [])
    prestop = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    labels = ds.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
    selector = ds.get("spec", {}).get("selector", {}).get("matchLabels", {})
    ok = (one(ds_docs, "Namespace") and ds.get("apiVersion") == "apps/v1" and c.get("image") == image and
          c.get("securityContext", {}).get("privileged") is True and
          "modprobe -vd /opt ashmem_linux" in " ".join(command) and
          prestop == ["modprobe", "-rvd", "/opt", "ashmem_linux"] and
          selector and all(labels.get(k) == v for k, v in selector.items()) and
          pod.get("nodeSelector") == module.get("spec", {}).get("selector"))
    case("daemonset_runs_the_same_image_privileged_loading_and_unloading_from_opt", ok,
         "image: %s, privileged: %s" % (c.get("image"), c.get("securityContext", {}).get("privileged")),
         "command: %s" % shlex.join(command), "preStop: %s" % shlex.join(prestop),
         "nodeSelector: %s (the Module's selector: %s)" % (pod.get("nodeSelector"),
                                                          module.get("spec", {}).get("selector")))

    ren = one(docs(kmm_ren), "Module") or {}
    ren_images = sorted({km.get("containerImage") for km in
                         ren.get("spec", {}).get("moduleLoader", {}).get("container", {}).get("kernelMappings", [])})
    ren_ds = one(docs(ds_ren), "DaemonSet") or {}
    ren_ds_images = [x.get("image") for x in
                     ren_ds.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])]
    want = "%s:%s" % (RENAMED, version)
    case("kustomize_images_renames_the_module_and_daemonset_image",
         ren_images == [want] and ren_ds_images == [want],
         "Module: %s; DaemonSet: %s" % (" ".join(map(str, ren_images)), " ".join(map(str, ren_ds_images))))

    with open(outdir + "/loader-command", "w") as f:
        f.write(shlex.join(command) + "\n")
    with open(outdir + "/loader-prestop", "w") as f:
        f.write(shlex.join(prestop) + "\n")
    return 0 if all(cases) else 1


if __name__ == "__main__":
    sys.exit(main())
