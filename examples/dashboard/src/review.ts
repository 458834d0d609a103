// The review loop a dashboard runs against taxpoynt-mono, written only from the OpenAPI
// document the service serves (`/openapi.json`, turned into `generated/api.ts` by
// openapi-typescript): link a bank account, wait for its first sync, file one draft as an
// e-invoice at MBS, show its QR code, clear one DLQ record and read the event log. Every
// answer is checked (its status and the fields a dashboard shows); any mismatch exits 1 with
// the step and what differed. No casts: answers are narrowed with checks, so a document too
// loose to write this against fails `tsc --strict` instead of hiding behind `as`.
//
//   TPM_BASE_URL=http://127.0.0.1:8080 TPM_API_KEY=tpm_... node dist/src/review.js
//
// The tenant must be set up for e-invoicing (profile, MBS business, crypto keys): the "Demo"
// organization of `taxpoynt-mono demo` is, under `serve --sandbox`.

import createClient from "openapi-fetch";

import type { components, paths } from "../generated/api.js";

/// What a dashboard shows of the failure envelope (openapi-fetch drops its `data`, always null).
type Failure = Pick<components["schemas"]["Failure"], "error" | "message" | "traceId">;
type AccountView = components["schemas"]["AccountView"];
type MonoAccount = components["schemas"]["MonoAccount"];
type InvoiceView = components["schemas"]["InvoiceView"];
type Event = components["schemas"]["Event"];
type EventKind = components["schemas"]["EventKind"];

/// How long the first sync may take, and how often the account is asked meanwhile.
const SYNC_DEADLINE_MS = 120_000;
const POLL_INTERVAL_MS = 250;
const MAX_EVENT_PAGES = 100;
const BUYER_NAME = "Dashboard Example Buyer Ltd";

class Mismatch extends Error {}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function setting(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Mismatch(`${name} is not set (the service's base URL and a tenant API key are needed)`);
  }
  return value;
}

function check(condition: boolean, what: string): asserts condition {
  if (!condition) {
    throw new Mismatch(what);
  }
}

/// A non-empty string, or a mismatch naming the field.
function present(value: string | null | undefined, field: string): string {
  check(value !== null && value !== undefined && value !== "", `${field} is missing`);
  return value;
}

function describeFailure(error: Failure): string {
  const fields = error.error.fields;
  const named =
    fields === null || fields === undefined
      ? ""
      : ` fields: ${Object.entries(fields)
          .map(([name, problem]) => `${name}: ${problem}`)
          .join("; ")}`;
  return `${error.error.code}: ${error.message}${named} (trace ${error.traceId})`;
}

/// An openapi-fetch answer: its `data` when the status is the one expected, else a mismatch
/// naming the status and, for a failure envelope, its code, message and fields.
function answered<T>(
  what: string,
  expected: number,
  result: { data?: T; error?: Failure; response: Response },
): T {
  const { data, error, response } = result;
  if (error !== undefined) {
    throw new Mismatch(`${what}: expected ${expected}, got ${response.status} ${describeFailure(error)}`);
  }
  check(response.status === expected, `${what}: expected ${expected}, got ${response.status}`);
  check(data !== undefined, `${what}: ${response.status} without a body`);
  return data;
}

let stepNumber = 0;
const started = performance.now();

function step(name: string, detail: string): void {
  stepNumber += 1;
  const elapsed = ((performance.now() - started) / 1000).toFixed(2);
  console.log(`ok ${String(stepNumber).padStart(2)} ${name.padEnd(14)} ${detail} [${elapsed}s]`);
}

function isLinkedAccount(account: AccountView | MonoAccount): account is AccountView {
  return "sync" in account && "connection" in account;
}

function shortId(id: string): string {
  return id.length > 12 ? `${id.slice(0, 8)}…` : id;
}

function naira(kobo: number, currency: string): string {
  return `${currency} ${(kobo / 100).toFixed(2)}`;
}

async function review(): Promise<void> {
  const baseUrl = setting("TPM_BASE_URL").replace(/\/+$/, "");
  const apiKey = setting("TPM_API_KEY");
  const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${apiKey}` } });

  // 1. Start linking: the Mono widget link for a customer.
  const link = answered(
    "widget-link",
    200,
    await api.POST("/si/mono/widget-link", {
      body: {
        customer: { name: "Ada Dashboard", email: "ada@example.com" },
        redirectUrl: `${baseUrl}/demo/callback`,
      },
    }),
  ).data;
  const monoUrl = present(link.monoUrl, "widget-link data.monoUrl");
  check(link.scope === "auth", `widget-link data.scope: expected auth, got ${link.scope}`);
  present(link.ref, "widget-link data.ref");
  step("widget-link", `scope=${link.scope} ref=${link.ref}`);

  // 2. The customer goes through the hosted widget (the sandbox's), which returns to
  //    redirectUrl with the code; the service's /demo/callback page shows it.
  const page = await fetch(monoUrl, { redirect: "follow" });
  check(page.ok, `hosted link page: ${monoUrl} answered ${page.status}`);
  const html = await page.text();
  const code = html.match(/<pre id="code">([^<]+)<\/pre>/)?.[1];
  check(code !== undefined, `hosted link page: no code on the page it returned to (${page.url})`);
  step("hosted-link", `code=${code.slice(0, 10)}… via ${new URL(page.url).pathname}`);

  // 3. Exchange the code for the linked account; its first sync is queued at once.
  const linked = answered("exchange", 200, await api.POST("/si/mono/exchange", { body: { code } })).data;
  const accountId = present(linked.id, "exchange data.id");
  check(linked.connection === "ok", `exchange data.connection: expected ok, got ${linked.connection}`);
  check(linked.sync.state === "queued", `exchange data.sync.state: expected queued, got ${linked.sync.state}`);
  const jobId = present(linked.sync.jobId, "exchange data.sync.jobId");
  step(
    "exchange",
    `account=${accountId} ${linked.institution.name} sync=${linked.sync.state} job=${shortId(jobId)}`,
  );

  // 4. Show "syncing" until the account's sync is idle again (bounded by a deadline).
  const deadline = performance.now() + SYNC_DEADLINE_MS;
  let polls = 0;
  let account: AccountView = linked;
  for (;;) {
    polls += 1;
    account = answered(
      "account",
      200,
      await api.GET("/si/mono/accounts/{id}", { params: { path: { id: accountId } } }),
    ).data;
    if (account.sync.state === "idle") {
      break;
    }
    check(
      account.sync.state !== "backoff",
      `account: the first sync failed and is backed off: ${account.lastSyncError ?? "no error recorded"}`,
    );
    check(
      performance.now() < deadline,
      `account: sync.state still ${account.sync.state} after ${SYNC_DEADLINE_MS / 1000} s`,
    );
    await sleep(POLL_INTERVAL_MS);
  }
  const lastSyncedAt = present(account.lastSyncedAt, "account data.lastSyncedAt");
  check(account.connection === "ok", `account data.connection: expected ok, got ${account.connection}`);
  step("synced", `sync=idle lastSyncedAt=${lastSyncedAt} after ${polls} poll(s)`);

  // 5. The linked accounts (the list's `data` is AccountView[] or, for an admin key without
  //    linkedOnly, Mono's own MonoAccount[]: each item is narrowed by its fields).
  const accounts = answered(
    "accounts",
    200,
    await api.GET("/si/mono/accounts", { params: { query: { linkedOnly: true } } }),
  );
  const listed = accounts.data.filter(isLinkedAccount);
  check(
    listed.length === accounts.data.length,
    `accounts: linkedOnly=true listed ${accounts.data.length - listed.length} item(s) that are not linked accounts`,
  );
  const ours = listed.find((a) => a.id === accountId);
  check(ours !== undefined, `accounts: ${accountId} is not among the ${listed.length} linked account(s)`);
  check(ours.sync.state === "idle", `accounts: sync.state of ${accountId} is ${ours.sync.state}, not idle`);
  step("accounts", `${listed.length} linked, ${accountId} connection=${ours.connection} sync=${ours.sync.state}`);

  // 6. The drafts to review.
  const drafts = answered(
    "invoices",
    200,
    await api.GET("/si/invoices", {
      params: { query: { status: "DRAFT", kind: "invoice", accountId, limit: 50 } },
    }),
  );
  check(
    drafts.data.length > 0,
    `invoices: the sync of ${accountId} (${account.institution.name}, ${account.currency ?? "no currency"}) drafted no invoice to review (the sandbox links a customer's accounts in turn: a fresh service's first is a naira one)`,
  );
  const notDraft = drafts.data.find((i) => i.status !== "DRAFT" || i.accountId !== accountId);
  check(notDraft === undefined, `invoices: ${notDraft?.id} is ${notDraft?.status} of ${notDraft?.accountId}`);
  const draft = drafts.data[0];
  check(draft !== undefined, "invoices: no first draft");
  check(draft.amount > 0, `invoices: draft ${draft.id} has amount ${draft.amount}`);
  const firstLine = draft.lines[0];
  check(firstLine !== undefined, `invoices: draft ${draft.id} has no line`);
  step(
    "drafts",
    `${drafts.data.length}${drafts.meta.next === null || drafts.meta.next === undefined ? "" : "+"} DRAFT; ${draft.invoiceNumber} ${naira(draft.amount, draft.currency)} "${firstLine.description}" buyer=${draft.buyer.name}`,
  );

  // 7. Confirm it, naming the buyer (a bank does not always name the counterparty).
  const path = { path: { id: draft.id } };
  const confirmed = answered(
    "confirm",
    200,
    await api.POST("/si/invoices/{id}/confirm", { params: path, body: { buyer: { name: BUYER_NAME } } }),
  ).data;
  expectStatus("confirm", confirmed, "CONFIRMED");
  check(confirmed.buyer.name === BUYER_NAME, `confirm data.buyer.name: expected ${BUYER_NAME}, got ${confirmed.buyer.name}`);
  step("confirm", `${confirmed.invoiceNumber} CONFIRMED buyer=${confirmed.buyer.name} kind=${confirmed.invoiceKind}`);

  // 8. Validate it, here and at MBS: the IRN is fixed.
  const validated = answered("validate", 200, await api.POST("/si/invoices/{id}/validate", { params: path })).data;
  expectStatus("validate", validated, "VALIDATED");
  const irn = present(validated.irn, "validate data.irn");
  const totals = validated.totals;
  check(totals !== null && totals !== undefined, "validate data.totals is missing");
  check(
    totals.payable === validated.amount,
    `validate data.totals.payable ${totals.payable} is not the amount ${validated.amount}`,
  );
  step("validate", `VALIDATED irn=${irn} payable=${naira(totals.payable, validated.currency)}`);

  // 9. Sign it: MBS accepts the submission and the service seals what was filed.
  const signed = answered("sign", 200, await api.POST("/si/invoices/{id}/sign", { params: path })).data;
  expectStatus("sign", signed, "SIGNED");
  check(signed.irn === irn, `sign data.irn: expected ${irn}, got ${signed.irn}`);
  const submission = signed.submission;
  check(submission !== null && submission !== undefined, "sign data.submission is missing");
  check(submission.status === "accepted", `sign data.submission.status: expected accepted, got ${submission.status}`);
  const signature = signed.signature;
  check(signature !== null && signature !== undefined, "sign data.signature is missing");
  check(signature.alg === "Ed25519", `sign data.signature.alg: expected Ed25519, got ${signature.alg}`);
  present(signature.value, "sign data.signature.value");
  const signedAt = present(signed.signedAt, "sign data.signedAt");
  check(signed.signedPayload !== null && signed.signedPayload !== undefined, "sign data.signedPayload is missing");
  step("sign", `SIGNED at ${signedAt} submission=${submission.status} seal=${signature.alg} key=${signature.keyId}`);

  // 10. Its QR code, as an SVG the dashboard can inline.
  const qr = await api.GET("/si/invoices/{id}/qr", { params: { ...path, query: { format: "svg" } }, parseAs: "text" });
  const svg = answered("qr", 200, qr);
  const contentType = qr.response.headers.get("content-type") ?? "";
  check(contentType.startsWith("image/svg+xml"), `qr: content-type ${contentType}, not image/svg+xml`);
  check(svg.includes("<svg"), "qr: the answer is not an SVG document");
  step("qr", `${contentType} ${svg.length} bytes`);

  // 11. The transactions that were not invoiced (the DLQ), open ones first to review.
  const dlq = answered(
    "dlq",
    200,
    await api.GET("/si/mono/dlq", { params: { query: { accountId, status: "open", limit: 50 } } }),
  );
  check(dlq.data.length > 0, "dlq: the sync sent no transaction to the DLQ");
  const record = dlq.data[0];
  check(record !== undefined, "dlq: no first record");
  check(record.status === "open", `dlq: record ${record.id} is ${record.status}, not open`);
  const reasons = new Set(dlq.data.map((r) => r.reason));
  step(
    "dlq",
    `${dlq.data.length} open (reasons: ${[...reasons].join(", ")}); first ${record.reason} "${record.narration ?? ""}"`,
  );

  // 12. Resolve one: dismissed, with a note.
  const resolved = answered(
    "resolve",
    200,
    await api.POST("/si/mono/dlq/{id}/resolve", {
      params: { path: { id: record.id } },
      body: { resolution: "dismissed", note: "reviewed in the dashboard example" },
    }),
  ).data;
  check(resolved.status === "resolved", `resolve data.status: expected resolved, got ${resolved.status}`);
  check(resolved.resolution === "dismissed", `resolve data.resolution: expected dismissed, got ${resolved.resolution}`);
  const resolvedAt = present(resolved.resolvedAt, "resolve data.resolvedAt");
  step("resolve", `${shortId(resolved.id)} ${resolved.status} (${resolved.resolution}) at ${resolvedAt}`);

  // 13. The event log: why each transaction went where, page by page, narrowed by `kind`.
  const outcomes = new Map<string, number>();
  let failures = 0;
  let pages = 0;
  const kinds: EventKind[] = ["eligibility", "invoice_failed"];
  for (const kind of kinds) {
    let before: string | undefined;
    do {
      pages += 1;
      check(pages <= MAX_EVENT_PAGES, `events: more than ${MAX_EVENT_PAGES} pages`);
      const query = { accountId, kind, limit: 200, ...(before === undefined ? {} : { before }) };
      const events = answered(`events kind=${kind}`, 200, await api.GET("/si/mono/events", { params: { query } }));
      for (const event of events.data) {
        check(event.kind === kind, `events kind=${kind}: listed an event of kind ${event.kind}`);
        failures += tally(event, outcomes);
      }
      before = events.meta.next ?? undefined;
    } while (before !== undefined);
  }
  const drafted = outcomes.get("draft") ?? 0;
  const toDlq = outcomes.get("dlq") ?? 0;
  check(drafted >= drafts.data.length, `events: ${drafted} draft outcome(s) for ${drafts.data.length} draft(s)`);
  check(toDlq >= dlq.data.length, `events: ${toDlq} dlq outcome(s) for ${dlq.data.length} DLQ record(s)`);
  step(
    "events",
    `${[...outcomes].map(([outcome, n]) => `${outcome}=${n}`).join(" ")} invoice_failed=${failures} (${pages} page(s))`,
  );
}

function expectStatus(what: string, invoice: InvoiceView, status: InvoiceView["status"]): void {
  check(invoice.status === status, `${what} data.status: expected ${status}, got ${invoice.status}`);
}

/// Counts an eligibility event under its outcome; answers 1 for a monitoring event.
function tally(event: Event, outcomes: Map<string, number>): number {
  switch (event.kind) {
    case "eligibility":
      outcomes.set(event.outcome, (outcomes.get(event.outcome) ?? 0) + 1);
      return 0;
    case "invoice_failed":
      return 1;
  }
}

review().then(
  () => {
    console.log(`review loop passed: ${stepNumber} steps in ${((performance.now() - started) / 1000).toFixed(2)} s`);
  },
  (error: unknown) => {
    const detail = error instanceof Error ? error.message : String(error);
    const kind = error instanceof Mismatch ? "mismatch" : "error";
    console.error(`FAILED at step ${stepNumber + 1} (${kind}): ${detail}`);
    process.exitCode = 1;
  },
);
