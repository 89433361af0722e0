"""The add-in-only XML manifest (M7), which Outlook on Windows, Mac, the web and Exchange Server SE
all load: `MailApp` schema 1.1 with `VersionOverrides` 1.0 (the task pane button on appointments,
attendee and organizer surfaces) and a nested `VersionOverrides` 1.1 that adds
`WebApplicationInfo` (Office SSO's fallback to Nested App Authentication) when crmcal has an
Entra app registration. Elements are in the order the schemas require
(https://learn.microsoft.com/javascript/api/manifest/officeapp,
https://learn.microsoft.com/javascript/api/manifest/versionoverrides).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

ADDIN_ID = "5f0c7e8a-2d41-4c3b-9a6e-63726d63616c"


def _version(v: str) -> str:
    """Manifest versions are up to four dot-separated numbers (`1.2.3.0`)."""
    nums = []
    for part in v.split(".")[:4]:
        lead = re.match(r"\d+", part)  # `0rc2` -> 0: pre-release tags are dropped
        nums.append(str(int(lead.group()) if lead else 0))
    return ".".join([*nums, "0", "0", "0", "0"][:4])


def _hosts(root: str, tab: str) -> str:
    def surface(kind: str, sid: str) -> str:
        return f"""
          <ExtensionPoint xsi:type="{kind}">
            <OfficeTab id="TabDefault">
              <Group id="crmcal.{sid}.group">
                <Label resid="crmcal.group.label"/>
                <Control xsi:type="Button" id="crmcal.{sid}.open">
                  <Label resid="crmcal.button.label"/>
                  <Supertip>
                    <Title resid="crmcal.button.label"/>
                    <Description resid="crmcal.button.tip"/>
                  </Supertip>
                  <Icon>
                    <bt:Image size="16" resid="crmcal.icon16"/>
                    <bt:Image size="32" resid="crmcal.icon32"/>
                    <bt:Image size="80" resid="crmcal.icon80"/>
                  </Icon>
                  <Action xsi:type="ShowTaskpane">
                    <SourceLocation resid="crmcal.taskpane.url"/>
                    <SupportsPinning>true</SupportsPinning>
                  </Action>
                </Control>
              </Group>
            </OfficeTab>
          </ExtensionPoint>"""

    return f"""
    <Hosts>
      <Host xsi:type="MailHost">
        <DesktopFormFactor>{surface("AppointmentAttendeeCommandSurface", "read")}{
        surface("AppointmentOrganizerCommandSurface", "compose")
    }
        </DesktopFormFactor>
      </Host>
    </Hosts>
    <Resources>
      <bt:Images>
        <bt:Image id="crmcal.icon16" DefaultValue="{root}/addin/icon-16.png"/>
        <bt:Image id="crmcal.icon32" DefaultValue="{root}/addin/icon-32.png"/>
        <bt:Image id="crmcal.icon80" DefaultValue="{root}/addin/icon-80.png"/>
      </bt:Images>
      <bt:Urls>
        <bt:Url id="crmcal.taskpane.url" DefaultValue="{root}/addin/taskpane.html"/>
      </bt:Urls>
      <bt:ShortStrings>
        <bt:String id="crmcal.group.label" DefaultValue="crmcal"/>
        <bt:String id="crmcal.button.label" DefaultValue="Salesforce"/>
      </bt:ShortStrings>
      <bt:LongStrings>
        <bt:String id="crmcal.button.tip" DefaultValue="{tab}"/>
      </bt:LongStrings>
    </Resources>"""


def manifest_xml(root: str, *, version: str, client_id: str = "") -> str:
    """The manifest with crmcal's public URL (`server.public_url`) in every address."""
    root = escape(root.rstrip("/"))
    parts = urlsplit(root)
    host, origin = parts.netloc, f"{parts.scheme}://{parts.netloc}"
    tip = "Show this item's Salesforce status and links; Save, Unsync or create records."
    sso = ""
    if client_id:
        sso = f"""
      <WebApplicationInfo>
        <Id>{escape(client_id)}</Id>
        <Resource>api://{escape(host)}/{escape(client_id)}</Resource>
        <Scopes>
          <Scope>openid</Scope>
          <Scope>profile</Scope>
        </Scopes>
      </WebApplicationInfo>"""
    hosts = _hosts(root, tip)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<OfficeApp xmlns="http://schemas.microsoft.com/office/appforoffice/1.1"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xmlns:bt="http://schemas.microsoft.com/office/officeappbasictypes/1.0"
  xmlns:mailappor="http://schemas.microsoft.com/office/mailappversionoverrides/1.0"
  xsi:type="MailApp">
  <Id>{ADDIN_ID}</Id>
  <Version>{_version(version)}</Version>
  <ProviderName>crmcal</ProviderName>
  <DefaultLocale>en-US</DefaultLocale>
  <DisplayName DefaultValue="crmcal for Salesforce"/>
  <Description DefaultValue={quoteattr(tip)}/>
  <IconUrl DefaultValue="{root}/addin/icon-64.png"/>
  <HighResolutionIconUrl DefaultValue="{root}/addin/icon-128.png"/>
  <SupportUrl DefaultValue="{root}/addin/taskpane.html"/>
  <AppDomains>
    <AppDomain>{origin}</AppDomain>
  </AppDomains>
  <Hosts>
    <Host Name="Mailbox"/>
  </Hosts>
  <Requirements>
    <Sets>
      <Set Name="Mailbox" MinVersion="1.1"/>
    </Sets>
  </Requirements>
  <FormSettings>
    <Form xsi:type="ItemRead">
      <DesktopSettings>
        <SourceLocation DefaultValue="{root}/addin/taskpane.html"/>
        <RequestedHeight>450</RequestedHeight>
      </DesktopSettings>
    </Form>
    <Form xsi:type="ItemEdit">
      <DesktopSettings>
        <SourceLocation DefaultValue="{root}/addin/taskpane.html"/>
      </DesktopSettings>
    </Form>
  </FormSettings>
  <Permissions>ReadItem</Permissions>
  <Rule xsi:type="RuleCollection" Mode="Or">
    <Rule xsi:type="ItemIs" ItemType="Appointment" FormType="Read"/>
    <Rule xsi:type="ItemIs" ItemType="Appointment" FormType="Edit"/>
  </Rule>
  <DisableEntityHighlighting>false</DisableEntityHighlighting>
  <VersionOverrides xmlns="http://schemas.microsoft.com/office/mailappversionoverrides"
    xsi:type="VersionOverridesV1_0">
    <Requirements>
      <bt:Sets DefaultMinVersion="1.3">
        <bt:Set Name="Mailbox"/>
      </bt:Sets>
    </Requirements>{hosts}
    <VersionOverrides xmlns="http://schemas.microsoft.com/office/mailappversionoverrides/1.1"
      xsi:type="VersionOverridesV1_1">
      <Requirements>
        <bt:Sets DefaultMinVersion="1.3">
          <bt:Set Name="Mailbox"/>
        </bt:Sets>
      </Requirements>{hosts.replace(chr(10), chr(10) + "  ")}{sso}
    </VersionOverrides>
  </VersionOverrides>
</OfficeApp>
"""
