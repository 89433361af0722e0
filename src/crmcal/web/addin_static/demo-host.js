// Demo mode (`/addin/taskpane.html?demo=<item id>&mailbox=<you>`): a stand-in for Office.js so a
// person can click through the task pane in an ordinary browser, against a running crmcal (for
// example over the sandbox). It plays Outlook on the web with one appointment open:
// - item.itemId is the EWS form of <item id> (a Graph REST id, as the dashboard's links show it);
// - convertToRestId turns it back, as Office.js does;
// - roamingSettings live in this browser's localStorage (Outlook keeps them in the mailbox);
// - no Nested App Authentication and no Office SSO: the pane asks for a crmcal API token.
// Nothing here is used outside demo mode: the real pane loads Office.js from Microsoft's CDN.
(function () {
  const q = new URLSearchParams(location.search);
  const rest = q.get("demo") || "";
  const ews = rest.replace(/-/g, "/").replace(/_/g, "+");
  const store = "crmcal-demo-roaming";
  const roaming = JSON.parse(localStorage.getItem(store) || "{}");
  const ok = (value) => ({ status: "succeeded", value });
  const dark = q.get("theme") === "dark";
  window.Office = {
    HostType: { Outlook: "Outlook" },
    AsyncResultStatus: { Succeeded: "succeeded", Failed: "failed" },
    MailboxEnums: { RestVersion: { v1_0: "v1.0", v2_0: "v2.0", Beta: "beta" } },
    context: {
      requirements: { isSetSupported: (name) => name === "Mailbox" },
      officeTheme: dark ? { bodyBackgroundColor: "#1f1f1f" } : { bodyBackgroundColor: "#ffffff" },
      roamingSettings: {
        get: (k) => roaming[k],
        set: (k, v) => { roaming[k] = v; },
        remove: (k) => { delete roaming[k]; },
        saveAsync: (cb) => { localStorage.setItem(store, JSON.stringify(roaming)); cb && cb(ok()); },
      },
      mailbox: {
        userProfile: { emailAddress: q.get("mailbox") || "" },
        item: rest ? { itemType: "appointment", itemId: ews } : { itemType: "appointment" },
        convertToRestId: (id) => id.replace(/\//g, "-").replace(/\+/g, "_"),
      },
    },
    onReady: (fn) => {
      const run = () => fn({ host: "Outlook", platform: "OfficeOnline" });
      if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
      else run();
      return Promise.resolve({ host: "Outlook", platform: "OfficeOnline" });
    },
  };
})();
