"""M7: the add-in's XML manifest validates, and the task pane's bundle is the build of its source.

What is validated, and how (decision 0141): Microsoft's validator (`office-addin-manifest
validate`) posts the manifest to an online service, which the test run cannot reach, and no npm or
PyPI package carries Microsoft's XSDs. So the test run checks
1. with Microsoft's own `office-addin-manifest` package (pinned in addin/package-lock.json): its
   parser reads the manifest and reports the id, type, version, hosts, URLs and permissions;
2. here, the rules of the manifest reference pages for what the XSD sequence and Outlook's store
   checks require: the element order of `OfficeApp` (MailApp) and `VersionOverrides`, a GUID id,
   a four-part version, https URLs under `public_url`, every `resid` defined, string lengths
   (ShortStrings 125, LongStrings 250), the icon sizes the button needs (16/32/80) and that every
   URL in it answers from `crmcal serve`.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from crmcal.web.addin_manifest import manifest_xml
from tests.web._support import Dash

ROOT = Path(__file__).resolve().parents[2]
ADDIN = ROOT / "addin"
BUNDLE = ROOT / "src" / "crmcal" / "web" / "addin_static" / "taskpane.js"
OA = "{http://schemas.microsoft.com/office/appforoffice/1.1}"
V = "{http://schemas.microsoft.com/office/mailappversionoverrides}"
V11 = "{http://schemas.microsoft.com/office/mailappversionoverrides/1.1}"
BT = "{http://schemas.microsoft.com/office/officeappbasictypes/1.0}"
XSI = "{http://www.w3.org/2001/XMLSchema-instance}type"
PUBLIC = "https://crmcal.example.com"
CLIENT = "11111111-2222-3333-4444-555555555555"

# https://learn.microsoft.com/javascript/api/manifest/officeapp: the sequence of a MailApp
OFFICEAPP_ORDER = [
    "Id", "AlternateId", "Version", "ProviderName", "DefaultLocale", "DisplayName", "Description",
    "IconUrl", "HighResolutionIconUrl", "SupportUrl", "AppDomains", "Hosts", "Requirements",
    "FormSettings", "Permissions", "Rule", "DisableEntityHighlighting", "VersionOverrides",
]  # fmt: skip
VO_ORDER = ["Description", "Requirements", "Hosts", "Resources", "VersionOverrides"]
VO11_ORDER = ["Description", "Requirements", "Hosts", "Resources", "WebApplicationInfo"]


def _names(el: ET.Element) -> list[str]:
    return [c.tag.split("}", 1)[1] for c in el]


def _in_order(names: list[str], order: list[str]) -> bool:
    idx = [order.index(n) for n in names]
    return idx == sorted(idx)


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """addin/node_modules from the lock file (`npm ci`, from the npm registry) when missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed")
    nm = ADDIN / "node_modules"
    if not (nm / "office-addin-manifest").is_dir() or not (nm / "esbuild").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=ADDIN, check=True, capture_output=True, timeout=600,
        )  # fmt: skip
    return nm


def test_m7_manifest_follows_the_schema_rules() -> None:
    xml = manifest_xml(PUBLIC, version="1.4.0rc2", client_id=CLIENT)
    root = ET.fromstring(xml)
    assert root.tag == f"{OA}OfficeApp" and root.get(XSI) == "MailApp"
    names = _names(root)
    assert _in_order(names, OFFICEAPP_ORDER), names
    assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", root.findtext(f"{OA}Id", ""))
    assert root.findtext(f"{OA}Version") == "1.4.0.0"
    assert root.findtext(f"{OA}Permissions") == "ReadItem"
    assert root.findtext(f"{OA}AppDomains/{OA}AppDomain") == PUBLIC
    rules = root.findall(f"{OA}Rule/{OA}Rule")
    assert {(r.get("ItemType"), r.get("FormType")) for r in rules} == {
        ("Appointment", "Read"), ("Appointment", "Edit")}  # fmt: skip
    vo = root.find(f"{V}VersionOverrides")
    assert vo is not None and vo.get(XSI) == "VersionOverridesV1_0"
    assert _in_order(_names(vo), VO_ORDER), _names(vo)
    vo11 = vo.find(f"{V11}VersionOverrides")
    assert vo11 is not None and vo11.get(XSI) == "VersionOverridesV1_1"
    assert _in_order(_names(vo11), VO11_ORDER), _names(vo11)
    assert vo11.findtext(f"{V11}WebApplicationInfo/{V11}Resource") == (
        f"api://crmcal.example.com/{CLIENT}"
    )
    for over, ns in ((vo, V), (vo11, V11)):
        points = over.findall(f"{ns}Hosts/{ns}Host/{ns}DesktopFormFactor/{ns}ExtensionPoint")
        assert {p.get(XSI) for p in points} == {
            "AppointmentAttendeeCommandSurface", "AppointmentOrganizerCommandSurface"}  # fmt: skip
        res = over.find(f"{ns}Resources")
        assert res is not None
        defined = {e.get("id") for e in res.iter() if e.get("id")}
        used = {e.get("resid") for e in over.iter() if e.get("resid")}
        assert used <= defined, used - defined
        for s in res.iter(f"{BT}String"):
            limit = 125 if "ShortStrings" in str(s) or s.get("id", "").endswith("label") else 250
            assert len(s.get("DefaultValue", "")) <= limit
        sizes = {i.get("size") for i in over.iter(f"{BT}Image") if i.get("size")}
        assert sizes == {"16", "32", "80"}
    urls = re.findall(r'DefaultValue="(https?://[^"]+)"', xml)
    assert urls and all(u.startswith(PUBLIC + "/addin/") for u in urls), urls
    assert "WebApplicationInfo" not in manifest_xml(PUBLIC, version="1.0")  # no app: no SSO


def test_m7_manifest_urls_answer(dash: Dash) -> None:
    with dash.browser_client() as c:
        xml = c.get("/addin/manifest.xml").text
        urls = set(re.findall(r'DefaultValue="(http[^"]+)"', xml))
        assert len(urls) >= 6
        for u in urls:
            r = c.get(u.removeprefix(dash.url))
            assert r.status_code == 200, u


def test_m7_manifest_parses_with_office_addin_manifest(node_modules: Path, tmp_path: Path) -> None:
    path = tmp_path / "manifest.xml"
    path.write_text(manifest_xml(PUBLIC, version="2.0.1", client_id=CLIENT), encoding="utf-8")
    script = (
        "const m = require(process.argv[1]);"
        "m.OfficeAddinManifest.readManifestFile(process.argv[2])"
        ".then(i => console.log(JSON.stringify(i)))"
        ".catch(e => { console.error(String(e)); process.exit(1); });"
    )
    out = subprocess.run(
        ["node", "-e", script, str(node_modules / "office-addin-manifest"), str(path)],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    info = json.loads(out.stdout)
    assert info["officeAppType"] == "MailApp"
    assert info["version"] == "2.0.1.0" and info["hosts"] == ["Mailbox"]
    assert info["highResolutionIconUrl"] == f"{PUBLIC}/addin/icon-128.png"
    assert info["permissions"] == "ReadItem"


def _inputs_hash() -> str:
    h = hashlib.sha256()
    for f in ("package-lock.json", "build.mjs", "src/taskpane.js"):
        h.update((f + "\0" + (ADDIN / f).read_text(encoding="utf-8") + "\0").encode("utf-8"))
    return h.hexdigest()


def test_m7_bundle_was_built_from_this_source() -> None:
    """The committed bundle names the hash of its inputs (lock file, build script, source)."""
    first = BUNDLE.read_text(encoding="utf-8").split("\n", 1)[0]
    assert first == f"/* crmcal add-in bundle; inputs sha256 {_inputs_hash()} */", (
        "the add-in bundle is stale: run `cd addin && npm ci && npm run build`"
    )


def test_m7_bundle_rebuilds_byte_for_byte(node_modules: Path, tmp_path: Path) -> None:
    out = tmp_path / "taskpane.js"
    subprocess.run(
        ["node", "build.mjs", "--out", str(out)],
        cwd=ADDIN, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    assert out.read_bytes() == BUNDLE.read_bytes()
    assert b"appsforoffice" not in out.read_bytes()  # Office.js is never bundled
