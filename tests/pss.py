"""A checker for the Kubernetes Pod Security Standards, `baseline` and `restricted` (policy version
v1.32), written from the standard's documented controls
(https://kubernetes.io/docs/concepts/security/pod-security-standards/), not from meshc's code.

`violations(pod_spec)` lists every control a pod spec breaks, as `(control, where)`; the profile
`restricted` includes every `baseline` control. Windows-only controls (HostProcess) are checked
too; AppArmor and SELinux are checked only where a spec sets them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
        "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
    }
)  # fmt: skip
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)  # fmt: skip
RESTRICTED_VOLUMES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})


def _containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(field) or []:
            yield f"{field}[{c.get('name')}]", c


def baseline(spec: dict[str, Any]) -> Iterator[tuple[str, str]]:
    pod_sc = spec.get("securityContext") or {}
    if (pod_sc.get("windowsOptions") or {}).get("hostProcess"):
        yield "HostProcess", "spec"
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            yield "Host Namespaces", f"spec.{field}"
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            yield "HostPath Volumes", f"volumes[{volume.get('name')}]"
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            yield "Sysctls", str(sysctl.get("name"))
    for where, sc_owner in (
        ("spec", pod_sc),
        *((w, c.get("securityContext") or {}) for w, c in _containers(spec)),
    ):
        seccomp = (sc_owner.get("seccompProfile") or {}).get("type")
        if seccomp == "Unconfined":
            yield "Seccomp", where
        apparmor = (sc_owner.get("appArmorProfile") or {}).get("type")
        if apparmor not in (None, "RuntimeDefault", "Localhost"):
            yield "AppArmor", where
        selinux = sc_owner.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
            yield "SELinux", where
    for where, c in _containers(spec):
        sc = c.get("securityContext") or {}
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            yield "HostProcess", where
        if sc.get("privileged"):
            yield "Privileged Containers", where
        added = set((sc.get("capabilities") or {}).get("add") or [])
        if added - BASELINE_CAPABILITIES:
            yield "Capabilities", f"{where} adds {sorted(added - BASELINE_CAPABILITIES)}"
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                yield "Host Ports", where
        if sc.get("procMount") not in (None, "Default"):
            yield "/proc Mount Type", where


def restricted(spec: dict[str, Any]) -> Iterator[tuple[str, str]]:
    yield from baseline(spec)
    pod_sc = spec.get("securityContext") or {}
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            yield "Volume Types", f"volumes[{volume.get('name')}]"
    pod_non_root = pod_sc.get("runAsNonRoot")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_sc.get("runAsUser") == 0:
        yield "Running as Non-root user", "spec"
    for where, c in _containers(spec):
        sc = c.get("securityContext") or {}
        # Privilege escalation: must be set to false on every container (nil is not allowed).
        if sc.get("allowPrivilegeEscalation") is not False:
            yield "Privilege Escalation", where
        # Running as non-root: true on the pod (and not false on the container), or true on the container.
        own = sc.get("runAsNonRoot")
        if own is False or (own is None and pod_non_root is not True):
            yield "Running as Non-root", where
        if sc.get("runAsUser") == 0:
            yield "Running as Non-root user", where
        # Seccomp: RuntimeDefault or Localhost, on the pod or on every container.
        seccomp = (sc.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            yield "Seccomp (restricted)", where
        # Capabilities: drop ALL; add at most NET_BIND_SERVICE.
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            yield "Capabilities (restricted): drop ALL", where
        extra = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
        if extra:
            yield "Capabilities (restricted): add", f"{where} adds {sorted(extra)}"


def violations(spec: dict[str, Any], level: str = "restricted") -> list[tuple[str, str]]:
    check = restricted if level == "restricted" else baseline
    return sorted(set(check(spec)))
