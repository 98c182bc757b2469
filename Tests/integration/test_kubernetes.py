"""etc/kubernetes/: the manifests parse, agree with each other, and carry a
gatewayd config that gatewayd itself accepts."""
import os
import subprocess
import tomllib

import pytest
from conftest import GATEWAYD, app_path

yaml = pytest.importorskip("yaml", reason="python3-yaml is needed to read the manifests (scripts/deps.sh installs it)")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIR = os.path.join(ROOT, "etc", "kubernetes")


def manifests():
    docs = {}
    for name in sorted(os.listdir(DIR)):
        if name.endswith(".yaml"):
            with open(os.path.join(DIR, name)) as f:
                for d in yaml.safe_load_all(f):
                    docs[d["kind"]] = d
    return docs


def config_text(docs):
    return docs["ConfigMap"]["data"]["gatewayd.conf"]


def test_every_manifest_parses_and_kustomization_lists_them():
    docs = manifests()
    assert set(docs) == {"ConfigMap", "Deployment", "Service", "ServiceMonitor", "Kustomization", "NetworkPolicy"}
    listed = docs["Kustomization"]["resources"]
    assert sorted(listed) == sorted(n for n in os.listdir(DIR) if n.endswith(".yaml") and n != "kustomization.yaml")


def test_probes_grace_period_and_ports_agree_with_the_config():
    docs = manifests()
    conf = tomllib.loads(config_text(docs))
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert conf["admin_bind"] == [f"0.0.0.0:{ports['admin']}"], "probes on the admin listener, over TCP"
    assert conf["bind"] == [f"0.0.0.0:{ports['http']}"]
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "admin"}
    assert conf["drain_delay"] > 0
    # SIGKILL must not come before the drain and the graceful stop are over
    assert pod["terminationGracePeriodSeconds"] > conf["drain_delay"] + conf["graceful_timeout"]
    # readiness must notice the drain well within drain_delay
    r = c["readinessProbe"]
    assert r["periodSeconds"] * r["failureThreshold"] < conf["drain_delay"]
    # the Service and the ServiceMonitor find the pods and the admin port
    labels = docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert docs["Service"]["spec"]["selector"].items() <= labels.items()
    assert docs["Deployment"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    svc_ports = {p["name"]: p for p in docs["Service"]["spec"]["ports"]}
    endpoint = docs["ServiceMonitor"]["spec"]["endpoints"][0]
    assert endpoint["port"] in svc_ports and svc_ports[endpoint["port"]]["targetPort"] == "admin"
    assert endpoint["path"] == "/metrics"
    assert docs["ServiceMonitor"]["spec"]["selector"]["matchLabels"].items() <= docs["Service"]["metadata"]["labels"].items()
    mount = c["volumeMounts"][0]["mountPath"]
    assert c["command"][-1] == os.path.join(mount, "gatewayd.conf")


def test_gatewayd_accepts_the_configmaps_config(tmp_path):
    text = config_text(manifests()).replace('"/srv/app/app.so"', '"%s"' % app_path("testapp"))
    conf = tmp_path / "gatewayd.conf"
    conf.write_text(text)
    r = subprocess.run([GATEWAYD, "--check-config", "-c", str(conf)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_network_policy_opens_the_admin_port_to_the_kubelet_and_prometheus_only():
    """Issue 25: whoever reached 0.0.0.0:9000 could fail every probe."""
    docs = manifests()
    policy = docs["NetworkPolicy"]["spec"]
    labels = docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    admin = [r for r in policy["ingress"] if any(p["port"] == "admin" for p in r["ports"])]
    assert len(admin) == 1 and admin[0]["from"], "the admin port is never open to all"
    sources = admin[0]["from"]
    assert any("ipBlock" in s for s in sources), "the kubelet (the nodes' addresses)"
    assert any("namespaceSelector" in s and "podSelector" in s for s in sources), "Prometheus"
    http = [r for r in policy["ingress"] if any(p["port"] == "http" for p in r["ports"])]
    assert http and "from" not in http[0]
    ports = {p["name"] for p in docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert {"http", "admin"} <= ports
