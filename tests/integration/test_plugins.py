"""Out-of-tree provider plugins: the example plugin (channels/examples/, built as its own shared
object, path in $OMNIGATE_EXAMPLE_PLUGIN) is loaded from [plugins] load and sends an SMS end to
end; broken plugin lists are refused at start with the file named."""

import glob
import os
import shutil
import unittest
import urllib.parse

from harness import Daemon, base_config  # first: it puts tests/fakes on the import path
from fake_http import FakeHttpServer, Reply  # noqa: E402


def plugin_path():
    path = os.environ.get("OMNIGATE_EXAMPLE_PLUGIN")
    if not path or not os.path.exists(path):
        raise unittest.SkipTest("OMNIGATE_EXAMPLE_PLUGIN is not set (run through ctest)")
    return path


def plugin_config(fake, plugins):
    return base_config(
        plugins={"load": plugins},
        channels={"sms": {"providers": ["form"]}},
        providers={"form": {"kind": "example_form_sms", "url": fake.url("/send"),
                            "allow_private": True}})


class PluginDeliveryTest(unittest.TestCase):
    def test_example_plugin_sends_end_to_end(self):
        with FakeHttpServer() as fake, Daemon(plugin_config(fake, [plugin_path()])) as daemon:
            fake.script("/send", Reply(200, "BUSY"), Reply(200, "OK gw-42"))
            accepted = daemon.send({"to": {"phone": "+79161234567"},
                                    "content": {"sms": {"text": "Код 1234 & привет"}}})
            final = daemon.wait_status(accepted["id"], {"sent"})
            self.assertEqual([a["outcome"] for a in final["attempts"]], ["retry", "accepted"])
            self.assertEqual(final["attempts"][1]["provider"], "form")
            self.assertEqual(final["attempts"][1]["provider_message_id"], "gw-42")
            requests = fake.requests("/send")
            self.assertEqual(len(requests), 2)
            form = urllib.parse.parse_qs(requests[1].raw_body.decode())
            self.assertEqual(form, {"to": ["+79161234567"], "text": ["Код 1234 & привет"],
                                    "ref": [accepted["id"]]})
            self.assertIn("example_form_sms", daemon.log())

    def test_refusal_by_the_plugin_fails_the_message(self):
        with FakeHttpServer() as fake, Daemon(plugin_config(fake, [plugin_path()])) as daemon:
            fake.set_default("/send", Reply(200, "ERR unknown subscriber"))
            accepted = daemon.send({"to": {"phone": "+79161234567"},
                                    "content": {"sms": {"text": "x"}}})
            final = daemon.wait_status(accepted["id"], {"failed"})
            self.assertIn("ERR unknown subscriber", final["reason"])

    def test_plugin_setting_errors_point_at_the_config_line(self):
        with FakeHttpServer() as fake:
            config = plugin_config(fake, [plugin_path()])
            config["providers"]["form"]["colour"] = "red"
            with Daemon(config, start=False) as daemon:
                checked = daemon.check_config()
                self.assertEqual(checked.returncode, 1, checked)
                self.assertIn("colour", checked.stderr)
                self.assertIn("is not a setting of example_form_sms", checked.stderr)


class PluginLoadErrorsTest(unittest.TestCase):
    def check(self, plugins, expected):
        with FakeHttpServer() as fake, Daemon(plugin_config(fake, plugins), start=False) as daemon:
            checked = daemon.check_config()
            self.assertEqual(checked.returncode, 1, checked)
            self.assertIn(expected, checked.stderr)
            return daemon, checked

    def test_missing_file(self):
        self.check(["/nonexistent/plugin.so"], "plugin /nonexistent/plugin.so:")

    def test_not_a_plugin(self):
        # A real shared object without the entry point: the C maths library.
        candidates = sorted(glob.glob("/lib/*/libm.so.6") + glob.glob("/usr/lib/*/libm.so.6"))
        if not candidates:
            self.skipTest("no libm.so.6 found")
        self.check([candidates[0]], "has no omnigate_plugin_entry")

    def test_kind_used_without_its_plugin_is_unknown(self):
        self.check([], "unknown provider kind 'example_form_sms'")

    def test_loading_twice_is_a_duplicate_kind(self):
        path = plugin_path()
        daemon, checked = self.check([path, path], "registered twice")
        self.assertIn(path, checked.stderr)

    def test_relative_plugin_path_resolves_beside_the_config(self):
        with FakeHttpServer() as fake, \
                Daemon(plugin_config(fake, ["plugins/example.so"]), start=False) as daemon:
            os.makedirs(daemon.path("plugins"))
            shutil.copy(plugin_path(), daemon.path("plugins", "example.so"))
            checked = daemon.check_config()
            self.assertEqual(checked.returncode, 0, checked)

    def test_other_abi_version_is_refused(self):
        path = os.environ.get("OMNIGATE_WRONG_ABI_PLUGIN")
        if not path:
            self.skipTest("OMNIGATE_WRONG_ABI_PLUGIN is not set (run through ctest)")
        self.check([path], "was built for plugin ABI version 3, this omnigated speaks version 2")


if __name__ == "__main__":
    unittest.main()
