// A scripted Outlook host for the task pane's browser tests: what Office.js offers the pane, and
// nothing more. The test serves this file in place of Microsoft's CDN copy of Office.js (the
// page asks for https://appsforoffice.microsoft.com/lib/1/hosted/office.js, as in production)
// and sets `window.__OFFICE_HOST__` first:
//   { itemId: "<EWS id>", compose: false, mailbox: "<address>", sets: {"IdentityAPI": "1.3"}, ssoToken: "...",
//     theme: "#1f1f1f", roaming: {...} }
// Every call the pane makes is recorded in `window.__officeCalls`.
(function () {
  const cfg = window.__OFFICE_HOST__ || {};
  const calls = (window.__officeCalls = []);
  // roaming settings outlive the pane (Outlook keeps them in the mailbox): saveAsync persists
  const saved = JSON.parse(sessionStorage.getItem("office-roaming") || "{}");
  const roaming = Object.assign({}, cfg.roaming || {}, saved);
  window.__officeRoaming = roaming;
  const ok = (value) => ({ status: "succeeded", value });
  const versionOk = (have, want) => {
    const a = String(have).split(".").map(Number);
    const b = String(want || "1.1").split(".").map(Number);
    return a[0] > b[0] || (a[0] === b[0] && (a[1] || 0) >= (b[1] || 0));
  };
  const sets = Object.assign({ Mailbox: "1.13" }, cfg.sets || {});
  if (cfg.naaToken) {
    // Nested App Authentication: the host's broker bridge as msal-browser talks to it
    // (`window.nestedAppAuthBridge`, JSON messages `NestedAppAuthRequest`/`...Response`;
    // @azure/msal-browser dist/naa/BridgeProxy.mjs). It hands out the token the test minted.
    sets.NestedAppAuth = "1.1";
    const listeners = [];
    const claims = JSON.parse(atob(cfg.naaToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    const account = {
      homeAccountId: claims.oid + "." + claims.tid, environment: "login.microsoftonline.com",
      tenantId: claims.tid, username: claims.preferred_username, localAccountId: claims.oid,
      name: claims.name, idTokenClaims: claims,
    };
    window.nestedAppAuthBridge = {
      addEventListener: (_name, cb) => listeners.push(cb),
      removeEventListener: (_name, cb) => listeners.splice(listeners.indexOf(cb), 1),
      postMessage: (raw) => {
        const req = JSON.parse(raw);
        calls.push(["naa", req.method, req.tokenParams ? req.tokenParams.scope : null]);
        const res = { messageType: "NestedAppAuthResponse", requestId: req.requestId, success: true };
        if (req.method === "GetInitContext") {
          res.initContext = { sdkName: "office-host-stub", sdkVersion: "1.0.0",
            capabilities: { queryAccount: false }, accountContext: null };
        } else {
          res.token = { access_token: cfg.naaToken, expires_in: 3600, id_token: cfg.naaToken,
            properties: null, scope: req.tokenParams && req.tokenParams.scope };
          res.account = account;
        }
        setTimeout(() => listeners.forEach((cb) => cb(JSON.stringify(res))), 0);
      },
    };
  }
  window.Office = {
    HostType: { Outlook: "Outlook" },
    AsyncResultStatus: { Succeeded: "succeeded", Failed: "failed" },
    MailboxEnums: { RestVersion: { v1_0: "v1.0", v2_0: "v2.0", Beta: "beta" } },
    auth: {
      getAccessToken: (options) => {
        calls.push(["getAccessToken", options]);
        return cfg.ssoToken ? Promise.resolve(cfg.ssoToken) : Promise.reject({ code: 13003 });
      },
    },
    context: {
      requirements: {
        isSetSupported: (name, version) => name in sets && versionOk(sets[name], version),
      },
      officeTheme: { bodyBackgroundColor: cfg.theme || "#ffffff" },
      roamingSettings: {
        get: (k) => roaming[k],
        set: (k, v) => { calls.push(["roaming.set", k]); roaming[k] = v; },
        remove: (k) => { calls.push(["roaming.remove", k]); delete roaming[k]; },
        saveAsync: (cb) => {
          calls.push(["roaming.saveAsync"]);
          sessionStorage.setItem("office-roaming", JSON.stringify(roaming));
          if (cb) cb(ok());
        },
      },
      mailbox: {
        userProfile: { emailAddress: cfg.mailbox || "" },
        // compose (organizer) forms have no itemId; getItemIdAsync gives it once saved
        item: cfg.compose
          ? {
              itemType: "appointment",
              getItemIdAsync: (cb) => {
                calls.push(["getItemIdAsync"]);
                cb(cfg.itemId ? ok(cfg.itemId) : { status: "failed", error: { code: 9049 } });
              },
            }
          : { itemType: "appointment", itemId: cfg.itemId },
        convertToRestId: (id, version) => {
          calls.push(["convertToRestId", id, version]);
          return id.replace(/\//g, "-").replace(/\+/g, "_");
        },
      },
    },
    onReady: (fn) => {
      const info = { host: "Outlook", platform: "PC" };
      setTimeout(() => fn(info), 0);
      return Promise.resolve(info);
    },
  };
})();
