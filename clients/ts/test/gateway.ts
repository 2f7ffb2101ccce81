// Test kit: build the real gateway, run it as a child process, and send it
// signed Truv deliveries over HTTP (as cmd/hookline/crash_test.go does).

import { spawn, execFile, type ChildProcess } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/** The Truv webhook secret of the test configuration. */
export const TRUV_SECRET = "ts-e2e-truv-secret";

/** The read API token of the gateways these tests start. */
export const API_TOKEN = "ts-e2e-api-token";

/** A sources configuration with one Truv source (cmd/hookline/main_test.go's, trimmed). */
const CONFIG = `sources:
  - provider: truv
    secret_env: [TS_E2E_TRUV]
`;

/** repoRoot is the directory holding go.mod above this file. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "go.mod"))) {
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error("go.mod not found above " + fileURLToPath(import.meta.url));
    }
    dir = parent;
  }
  return dir;
}

/** A temporary directory holding the binary, the configuration and data dirs. */
export class Workdir {
  private constructor(readonly path: string) {}

  /** create makes the directory and writes the configuration into it. */
  static async create(): Promise<Workdir> {
    const w = new Workdir(await mkdtemp(join(tmpdir(), "hookline-ts-")));
    await writeFile(w.config, CONFIG, { mode: 0o600 });
    return w;
  }

  get config(): string {
    return join(this.path, "hookline.yaml");
  }

  get binary(): string {
    return join(this.path, "hookline");
  }

  /** build compiles ./cmd/hookline into the directory. */
  async build(): Promise<void> {
    await promisify(execFile)("go", ["build", "-o", this.binary, "./cmd/hookline"], {
      cwd: repoRoot(),
      maxBuffer: 16 << 20,
    });
  }

  async remove(): Promise<void> {
    await rm(this.path, { recursive: true, force: true });
  }
}

/** Options of Gateway.start. */
export interface GatewayOptions {
  /** The data directory; a restart on the same one keeps the log. */
  dataDir: string;
  /** More flags. */
  args?: string[];
  /** The API tokens (HOOKLINE_API_TOKENS); default API_TOKEN. */
  apiTokens?: string;
}

/** A running gateway process. */
export class Gateway {
  private constructor(
    private readonly proc: ChildProcess,
    /** `http://host:port` of the webhook and REST listener. */
    readonly http: string,
    /** `http://host:port` of the gRPC listener. */
    readonly grpc: string,
    private readonly exited: Promise<number | null>,
    private readonly stderr: { text: string },
  ) {}

  /** Its log so far (stderr). */
  get logs(): string {
    return this.stderr.text;
  }

  /**
   * start runs the gateway on `127.0.0.1:0` ports and resolves once it
   * printed its listening line and /readyz answers 200.
   */
  static async start(work: Workdir, opts: GatewayOptions): Promise<Gateway> {
    const proc = spawn(
      work.binary,
      [
        "--config", work.config,
        "--data-dir", opts.dataDir,
        "--http-addr", "127.0.0.1:0",
        "--grpc-addr", "127.0.0.1:0",
        "--log-level", "warn",
        ...(opts.args ?? []),
      ],
      {
        env: { ...cleanEnv(), TS_E2E_TRUV: TRUV_SECRET, HOOKLINE_API_TOKENS: opts.apiTokens ?? API_TOKEN },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const stderr = { text: "" };
    proc.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr.text += s));
    const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
    const lines = createInterface({ input: proc.stdout! });
    const first = await new Promise<string>((resolve, reject) => {
      lines.once("line", resolve);
      proc.once("exit", (code) => reject(new Error(`hookline exited (${code}) before listening:\n${stderr.text}`)));
    });
    lines.on("line", () => {}); // keep draining stdout
    const m = /http=(\S+) grpc=(\S+)/.exec(first);
    if (m === null) {
      proc.kill("SIGKILL");
      throw new Error(`unexpected start line ${JSON.stringify(first)}`);
    }
    const g = new Gateway(proc, "http://" + m[1], "http://" + m[2], exited, stderr);
    try {
      await g.waitReady();
    } catch (err) {
      g.kill();
      throw err;
    }
    return g;
  }

  private async waitReady(): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        const res = await fetch(this.http + "/readyz");
        await res.arrayBuffer();
        if (res.status === 200) {
          return;
        }
      } catch {
        // not listening yet
      }
      if (i === 1000) {
        throw new Error("gateway not ready after 1000 tries:\n" + this.logs);
      }
      await sleep(20);
    }
  }

  /** stop sends SIGTERM and waits for a clean exit. */
  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill("SIGTERM");
    }
    const code = await this.exited;
    if (code !== 0) {
      throw new Error(`hookline exited with ${code}:\n${this.logs}`);
    }
  }

  /** kill ends the process without waiting; for cleanup after a failure. */
  kill(): void {
    this.proc.kill("SIGKILL");
  }
}

/**
 * cleanEnv is this process's environment without HOOKLINE_* variables, so
 * a developer's settings (the gateway reads a HOOKLINE_ variable for every
 * flag; the examples read HOOKLINE_TOKEN, HOOKLINE_ADDR, filters) cannot
 * change what a test runs.
 */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("HOOKLINE_")));
}

/** What the gateway answers to an accepted delivery (server.Accepted). */
export interface Accepted {
  duplicate: boolean;
  events: { id: string; type: string; sequence: number; duplicate: boolean }[];
}

/**
 * truvOrderBody returns a distinct Truv `order-status-updated` delivery
 * for order `order-<n>` (the shape of crash_test.go's truvDeliveries).
 */
export function truvOrderBody(tag: string, n: number): string {
  return JSON.stringify({
    webhook_id: `${tag}${String(n).padStart(32 - tag.length, "0")}`,
    event_type: "order-status-updated",
    updated_at: "2026-01-02T03:04:05Z",
    product: "income",
    order_id: `${tag}-order-${n}`,
    status: "completed",
  });
}

/**
 * postTruv posts body to the gateway's Truv webhook, signed as Truv signs
 * (`X-Webhook-Sign: v1=` + hex HMAC-SHA256 of the raw body), and returns
 * the gateway's answer; anything but 200 is an error.
 */
export async function postTruv(base: string, body: string): Promise<Accepted> {
  const sig = createHmac("sha256", TRUV_SECRET).update(body).digest("hex");
  const res = await fetch(base + "/webhooks/truv", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Webhook-Sign": "v1=" + sig },
    body,
  });
  const text = await res.text();
  if (res.status !== 200) {
    throw new Error(`POST /webhooks/truv: ${res.status} ${text}`);
  }
  return JSON.parse(text) as Accepted;
}

/**
 * eventually polls check until it returns a value other than undefined.
 * The limit only guards against a hang; it is not a timing claim.
 */
export async function eventually<T>(what: string, check: () => T | undefined | Promise<T | undefined>, limitMs = 60_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) {
      return v;
    }
    if (Date.now() > deadline) {
      throw new Error(`gave up waiting for ${what} after ${limitMs} ms`);
    }
    await sleep(20);
  }
}
