"""Checks the systemd units, sysusers.d and tmpfiles.d files in systemd/ with systemd's own tools.

A unit with a typo is silently half-applied by systemd (unknown keys are ignored with a warning),
and hardening erodes one directive at a time, so these run in the test suite rather than by hand:
`systemd-analyze verify` must print nothing, and the offline security score of the service must
stay at 2.0 or better while the service can still reach providers over the Internet.
"""

import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

_HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEMD_DIR = os.path.join(os.path.dirname(os.path.dirname(_HERE)), "systemd")
SERVICE = os.path.join(SYSTEMD_DIR, "omnigated.service")
SOCKET = os.path.join(SYSTEMD_DIR, "omnigated.socket")
SYSUSERS = os.path.join(SYSTEMD_DIR, "omnigate.sysusers.conf")
TMPFILES = os.path.join(SYSTEMD_DIR, "omnigate.tmpfiles.conf")
MAX_EXPOSURE = 2.0
_EXPOSURE_RE = re.compile(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)")


def unit_settings(path):
    """Parses a unit file into {section: [(key, value), ...]}: keys repeat in units, so a dict of
    single values would hide exactly the duplicates that matter (SystemCallFilter=, ListenStream=).
    """
    sections = {}
    current = None
    with open(path, encoding="utf-8") as unit:
        for raw in unit:
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("[") and line.endswith("]"):
                current = sections.setdefault(line[1:-1], [])
                continue
            key, _, value = line.partition("=")
            current.append((key.strip(), value.strip()))
    return sections


def values(sections, section, key):
    return [v for k, v in sections.get(section, []) if k == key]


def run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False,
                          **kwargs)


def executable_for_verify():
    """The binary the verified copy of the service starts: the daemon under test when the
    harness names it, else any executable, since verify only checks that ExecStart= can run."""
    path = os.environ.get("OMNIGATED")
    if path and os.access(path, os.X_OK):
        return os.path.abspath(path)
    return shutil.which("true")


@unittest.skipUnless(shutil.which("systemd-analyze"),
                     "systemd-analyze is not installed (Debian package systemd)")
class SystemdAnalyzeTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="omnigate-units-")
        self.addCleanup(shutil.rmtree, self.tmp)

    def copy_units(self):
        """Copies both units into a private directory, the service's ExecStart= pointing at a
        binary that exists here: verify refuses a unit whose program is missing, and the
        installed path /usr/sbin/omnigated is not there on a build machine."""
        with open(SERVICE, encoding="utf-8") as source:
            text = source.read()
        self.assertIn("ExecStart=/usr/sbin/omnigated ", text)
        text = text.replace("ExecStart=/usr/sbin/omnigated ",
                            f"ExecStart={executable_for_verify()} ")
        service = os.path.join(self.tmp, "omnigated.service")
        with open(service, "w", encoding="utf-8") as copy:
            copy.write(text)
        socket = os.path.join(self.tmp, "omnigated.socket")
        shutil.copyfile(SOCKET, socket)
        return service, socket

    def test_verify_is_clean(self):
        service, socket = self.copy_units()
        result = run(["systemd-analyze", "verify", service, socket])
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        # Unknown keys and bad values are only warnings for verify's exit code: demand silence.
        self.assertEqual((result.stdout + result.stderr).strip(), "")

    def test_verify_catches_a_broken_unit(self):
        """Proves the check above can fail: the same copy with a misspelt key is reported."""
        service, _ = self.copy_units()
        with open(service, "a", encoding="utf-8") as unit:
            unit.write("[Service]\nNoNewPrivilegez=yes\n")
        result = run(["systemd-analyze", "verify", service])
        self.assertIn("NoNewPrivilegez", result.stdout + result.stderr)

    def test_security_exposure_is_at_most_two(self):
        result = run(["systemd-analyze", "security", "--offline=true", "--no-pager", SERVICE])
        output = result.stdout + result.stderr
        match = _EXPOSURE_RE.search(output)
        self.assertIsNotNone(match, output)
        exposure = float(match.group(1))
        self.assertLessEqual(exposure, MAX_EXPOSURE, output)


class ServiceContentTest(unittest.TestCase):
    """What the score does not show: the service still reaches providers, runs unprivileged,
    tells systemd when it is ready, and documents how secrets come in."""

    def setUp(self):
        self.unit = unit_settings(SERVICE)

    def test_providers_stay_reachable(self):
        families = " ".join(values(self.unit, "Service", "RestrictAddressFamilies")).split()
        self.assertIn("AF_INET", families)
        self.assertIn("AF_INET6", families)
        self.assertIn("AF_UNIX", families)
        self.assertNotIn("yes", values(self.unit, "Service", "PrivateNetwork"))
        self.assertNotIn("any", " ".join(values(self.unit, "Service", "IPAddressDeny")).split())

    def test_unprivileged_notify_service(self):
        self.assertEqual(values(self.unit, "Service", "Type"), ["notify"])
        self.assertEqual(values(self.unit, "Service", "User"), ["omnigate"])
        self.assertEqual(values(self.unit, "Service", "StateDirectory"), ["omnigate"])
        self.assertEqual(values(self.unit, "Service", "RuntimeDirectory"), ["omnigate"])
        self.assertEqual(values(self.unit, "Service", "CapabilityBoundingSet"), [""])
        self.assertEqual(values(self.unit, "Install", "WantedBy"), ["multi-user.target"])

    def test_documents_load_credential(self):
        with open(SERVICE, encoding="utf-8") as unit:
            self.assertRegex(unit.read(), r"(?m)^#\s*LoadCredential=\S+:\S+")

    def test_does_not_depend_on_the_socket(self):
        """The service must start on its own when omnigated.socket is not enabled."""
        for key in ("Requires", "Requisite", "BindsTo"):
            for value in values(self.unit, "Unit", key):
                self.assertNotIn("omnigated.socket", value)


class SocketContentTest(unittest.TestCase):
    def setUp(self):
        self.unit = unit_settings(SOCKET)

    def test_listens_where_the_sample_config_does(self):
        self.assertEqual(values(self.unit, "Socket", "ListenStream"),
                         ["127.0.0.1:7447", "/run/omnigate/api.sock"])
        self.assertEqual(values(self.unit, "Socket", "Service"), ["omnigated.service"])

    def test_unix_socket_is_for_the_omnigate_group(self):
        self.assertEqual(values(self.unit, "Socket", "SocketUser"), ["omnigate"])
        self.assertEqual(values(self.unit, "Socket", "SocketGroup"), ["omnigate"])
        self.assertEqual(values(self.unit, "Socket", "SocketMode"), ["0660"])
        self.assertEqual(values(self.unit, "Install", "WantedBy"), ["sockets.target"])


@unittest.skipUnless(shutil.which("systemd-sysusers") and shutil.which("systemd-tmpfiles"),
                     "systemd-sysusers/systemd-tmpfiles are not installed (Debian package systemd)")
class SysusersTmpfilesTest(unittest.TestCase):
    """Applies sysusers.d and tmpfiles.d to an empty root, as the package's postinst does on a
    real system, and checks the account and directories the service relies on."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("creating files owned by the omnigate account needs root")
        self.root = tempfile.mkdtemp(prefix="omnigate-root-")
        self.addCleanup(shutil.rmtree, self.root)
        os.mkdir(os.path.join(self.root, "etc"))

    def test_account_and_directories(self):
        result = run(["systemd-sysusers", f"--root={self.root}", SYSUSERS])
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(os.path.join(self.root, "etc", "passwd"), encoding="utf-8") as passwd:
            entries = [line.split(":") for line in passwd.read().splitlines()]
        account = [e for e in entries if e[0] == "omnigate"]
        self.assertEqual(len(account), 1, entries)
        uid, gid, home, shell = int(account[0][2]), int(account[0][3]), account[0][5], account[0][6]
        self.assertGreater(uid, 0)
        self.assertEqual(home, "/var/lib/omnigate")
        self.assertTrue(shell.endswith("nologin"), shell)

        result = run(["systemd-tmpfiles", f"--root={self.root}", "--create", TMPFILES])
        self.assertEqual(result.returncode, 0, result.stderr)
        for path, mode, owner in (("var/lib/omnigate", 0o700, (uid, gid)),
                                  ("run/omnigate", 0o750, (uid, gid)),
                                  ("etc/omnigate", 0o755, (0, 0))):
            info = os.stat(os.path.join(self.root, path))
            self.assertTrue(stat.S_ISDIR(info.st_mode), path)
            self.assertEqual(stat.S_IMODE(info.st_mode), mode, path)
            self.assertEqual((info.st_uid, info.st_gid), owner, path)


if __name__ == "__main__":
    unittest.main()
