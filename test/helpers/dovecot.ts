import { execFile, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './cli.js';
import { startIntrospection, type IntrospectionServer } from './oauth-introspection.js';

/**
 * A private Dovecot 2.3 (Debian's dovecot-imapd and dovecot-pop3d) for integration tests: its own
 * config, base and state directories, certificates, users and maildirs in a temp directory,
 * listening on free loopback ports. The system's Dovecot service is never touched.
 */

const DOVECOT = '/usr/sbin/dovecot';
const REQUIRED_FILES = [DOVECOT, '/usr/lib/dovecot/imap', '/usr/lib/dovecot/imap-login', '/usr/lib/dovecot/pop3', '/usr/lib/dovecot/pop3-login'];
const APT_PACKAGES = 'dovecot-imapd dovecot-pop3d openssl';
const run = promisify(execFile);

function opensslAvailable(): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir && fs.existsSync(path.join(dir, 'openssl')));
}

/**
 * Whether Dovecot can be started here. With CI=true a missing Dovecot throws, so the suite fails
 * instead of being skipped; elsewhere it warns and returns false for `describe.skipIf`.
 */
export function dovecotAvailable(): boolean {
  const missing = REQUIRED_FILES.filter((file) => !fs.existsSync(file));
  if (!opensslAvailable()) missing.push('openssl');
  if (!missing.length) return true;
  const message = `Dovecot integration tests need ${missing.join(', ')}: apt-get install -y ${APT_PACKAGES}`;
  if (process.env.CI === 'true') throw new Error(message);
  console.warn(`\n*** SKIPPED: ${message} ***\n`);
  return false;
}

export interface StartDovecotOptions {
  /** username → password. Passwords must not contain ':' (passwd-file format). */
  users: Record<string, string>;
  /** false: a plaintext-only server (ssl = no, no STARTTLS/STLS, no TLS ports). Default true. */
  tls?: boolean;
  /**
   * 'ca': a server certificate for localhost/127.0.0.1 signed by a CA made for this run (default).
   * 'wrong-host': a self-signed certificate for another host name.
   */
  certificate?: 'ca' | 'wrong-host';
  /** Shorthand for certificate: 'wrong-host'. */
  badCertificate?: boolean;
  /** Enables Dovecot's oauth2 passdb against an RFC 7662 introspection endpoint. */
  oauth2?: { introspectionUrl: string; mechanisms?: ('xoauth2' | 'oauthbearer')[] };
  /** Enables the oauth2 passdb with an introspection endpoint of its own that accepts these tokens (token → username). */
  oauthTokens?: Map<string, string>;
}

export interface MaildirMessage {
  file: string;
  /** Maildir info flags, e.g. "S" for \Seen, "T" for \Deleted. */
  flags: string;
  seen: boolean;
  raw: Buffer;
}

export interface DovecotServer {
  host: string;
  ports: { imap: number; imaps: number; pop3: number; pop3s: number };
  /** PEM to pass as caPem: the CA that signed the server certificate (the certificate itself for 'wrong-host'). */
  caPem: string;
  dir: string;
  /** Writes a message into the user's folder (created if missing); returns its maildir file name. */
  deliver(user: string, folder: string, raw: string | Buffer): string;
  /** The messages in a folder as files on disk (empty when the folder does not exist). */
  listFolder(user: string, folder: string): MaildirMessage[];
  /** Drops the folder's UID list and indexes so Dovecot assigns a new UIDVALIDITY and new UIDs. */
  resetUidValidity(user: string, folder: string): void;
  /** Dovecot's log so far. */
  log(): string;
  /**
   * The first log line matching the pattern, waiting for Dovecot's log process to write it.
   * `since` is a length of log() taken earlier: only lines written after it count.
   */
  waitForLog(pattern: RegExp, options?: { since?: number; timeoutMs?: number }): Promise<string>;
  /** SIGSTOP to every Dovecot process: connections stay open and nothing answers. */
  freeze(): void;
  /** SIGCONT after freeze(). */
  thaw(): void;
  /** SIGKILL to Dovecot and all its processes, as a crashed server; files are kept for restart(). */
  kill(): Promise<void>;
  /** Stops Dovecot cleanly if it runs and starts it again: same ports, same mail. */
  restart(): Promise<void>;
  /** Ends Dovecot and deletes its directory. */
  stop(): Promise<void>;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir });
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCertificates(dir: string, kind: 'ca' | 'wrong-host'): Promise<{ caPem: string; cert: string; key: string }> {
  const cert = path.join(dir, 'server.crt');
  const key = path.join(dir, 'server.key');
  if (kind === 'wrong-host') {
    await openssl(dir, ['req', '-x509', ...EC_KEY, '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=wrong-host.invalid',
      '-addext', 'subjectAltName=DNS:wrong-host.invalid']);
    return { caPem: await fsp.readFile(cert, 'utf8'), cert, key };
  }
  await openssl(dir, ['req', '-x509', ...EC_KEY, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=DMARC Watch test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await openssl(dir, ['req', ...EC_KEY, '-keyout', key, '-out', 'server.csr', '-subj', '/CN=localhost']);
  await fsp.writeFile(
    path.join(dir, 'server.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  await openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', cert, '-days', '2',
    '-extfile', 'server.ext']);
  return { caPem: await fsp.readFile(path.join(dir, 'ca.crt'), 'utf8'), cert, key };
}

function passwdEntry(match: (fields: string[]) => boolean): string[] | undefined {
  return fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .find(match);
}

function userName(uid: number): string {
  const entry = passwdEntry((fields) => fields[2] === String(uid));
  if (!entry) throw new Error(`no /etc/passwd entry for uid ${uid}`);
  return entry[0]!;
}

function groupName(gid: number): string {
  const line = fs.readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.split(':')[2] === String(gid));
  if (!line) throw new Error(`no /etc/group entry for gid ${gid}`);
  return line.split(':')[0]!;
}

/** The uid and gid mail is stored under. Dovecot refuses mail access as root, so root's tests use nobody. */
function mailOwner(): { uid: number; gid: number } {
  if (process.getuid?.() !== 0) return { uid: process.getuid!(), gid: process.getgid!() };
  const nobody = passwdEntry((fields) => fields[0] === 'nobody');
  if (!nobody) throw new Error('running as root needs the user "nobody" to own the test mail');
  return { uid: Number(nobody[2]), gid: Number(nobody[3]) };
}

interface Layout {
  dir: string;
  ports: DovecotServer['ports'];
  tls: boolean;
  cert: string;
  key: string;
  mailUid: number;
  mailGid: number;
  oauth2?: StartDovecotOptions['oauth2'];
}

function config(layout: Layout): string {
  const { dir, ports } = layout;
  const root = process.getuid?.() === 0;
  const mechanisms = layout.oauth2 ? (layout.oauth2.mechanisms ?? ['xoauth2', 'oauthbearer']) : [];
  const lines = [
    `instance_name = dmarcwatch-test-${path.basename(dir)}`,
    `base_dir = ${dir}/run`,
    `state_dir = ${dir}/state`,
    `log_path = ${dir}/dovecot.log`,
    'auth_verbose = yes',
    'protocols = imap pop3',
    'listen = 127.0.0.1',
    layout.tls ? 'ssl = yes' : 'ssl = no',
    ...(layout.tls ? [`ssl_cert = <${layout.cert}`, `ssl_key = <${layout.key}`, 'ssl_min_protocol = TLSv1.2'] : []),
    // Plaintext login is allowed so the plaintext-only server would accept credentials: the client must refuse on its own.
    'disable_plaintext_auth = no',
    `auth_mechanisms = plain login ${mechanisms.join(' ')}`,
    'auth_failure_delay = 0',
    'auth_cache_size = 0',
    `first_valid_uid = ${layout.mailUid}`,
    `mail_uid = ${layout.mailUid}`,
    `mail_gid = ${layout.mailGid}`,
    `mail_location = maildir:${dir}/mail/%u/Maildir`,
    'mailbox_list_index = no',
    'mail_max_userip_connections = 100',
    ...(root
      ? []
      : [
          `default_internal_user = ${userName(process.getuid!())}`,
          `default_internal_group = ${groupName(process.getgid!())}`,
          `default_login_user = ${userName(process.getuid!())}`,
          'service imap-login {\n  chroot =\n}',
          'service pop3-login {\n  chroot =\n}',
        ]),
    // No auth penalty: wrong-password tests would otherwise slow every later login from 127.0.0.1.
    `service anvil {\n${root ? '' : '  chroot =\n'}  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}`,
    'namespace inbox {\n  inbox = yes\n  separator = /\n  prefix =\n}',
    `passdb {\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u ${dir}/users\n  mechanisms = plain login\n}`,
    ...(layout.oauth2 ? [`passdb {\n  driver = oauth2\n  mechanisms = ${mechanisms.join(' ')}\n  args = ${dir}/oauth2.conf\n}`] : []),
    `userdb {\n  driver = static\n  args = uid=${layout.mailUid} gid=${layout.mailGid} home=${dir}/mail/%u allow_all_users=yes\n}`,
    'service imap-login {',
    `  inet_listener imap {\n    port = ${ports.imap}\n  }`,
    `  inet_listener imaps {\n    port = ${layout.tls ? ports.imaps : 0}\n    ssl = ${layout.tls ? 'yes' : 'no'}\n  }`,
    '}',
    'service pop3-login {',
    `  inet_listener pop3 {\n    port = ${ports.pop3}\n  }`,
    `  inet_listener pop3s {\n    port = ${layout.tls ? ports.pop3s : 0}\n    ssl = ${layout.tls ? 'yes' : 'no'}\n  }`,
    '}',
  ];
  return `${lines.join('\n')}\n`;
}

function folderDir(dir: string, user: string, folder: string): string {
  const mailRoot = path.join(dir, 'mail', user, 'Maildir');
  if (folder.toUpperCase() === 'INBOX') return mailRoot;
  // Maildir++ keeps every folder as a dot-separated directory under the root.
  return path.join(mailRoot, `.${folder.split('/').join('.')}`);
}

/** Whether any process of the group still runs; zombies, already without sockets, do not count. */
function processGroupAlive(pgid: number): boolean {
  if (!fs.existsSync('/proc/self/stat')) {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // "pid (comm) state ppid pgrp ...": comm may contain spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true;
  }
  return false;
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

let deliveries = 0;
let lastMicros = 0;

/** Dovecot gives new mail its UIDs in the order of the time in the file names, so those never repeat or go back. */
function maildirName(size: number): string {
  lastMicros = Math.max(Date.now() * 1000, lastMicros + 1);
  deliveries += 1;
  const seconds = Math.floor(lastMicros / 1_000_000);
  const micros = lastMicros % 1_000_000;
  return `${seconds}.M${micros}P${process.pid}Q${deliveries}R${crypto.randomBytes(4).toString('hex')}.dmarcwatch-test,S=${size}`;
}

export async function startDovecot(options: StartDovecotOptions): Promise<DovecotServer> {
  if (!dovecotAvailable()) throw new Error(`Dovecot is not installed: apt-get install -y ${APT_PACKAGES}`);
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'dmarcwatch-dovecot-'));
  // Dovecot's unprivileged processes (auth, mail as nobody) must reach the files inside.
  await fsp.chmod(dir, 0o755);
  const tlsEnabled = options.tls !== false;
  const root = process.getuid?.() === 0;
  const { uid: mailUid, gid: mailGid } = mailOwner();
  const ports = { imap: await freePort(), imaps: await freePort(), pop3: await freePort(), pop3s: await freePort() };
  const confPath = path.join(dir, 'dovecot.conf');
  let ownIntrospection: IntrospectionServer | null = null;
  let certs: { caPem: string; cert: string; key: string };
  try {
    certs = await makeCertificates(dir, options.badCertificate ? 'wrong-host' : (options.certificate ?? 'ca'));
    let oauth2 = options.oauth2;
    if (!oauth2 && options.oauthTokens) {
      ownIntrospection = await startIntrospection();
      for (const [token, username] of options.oauthTokens) ownIntrospection.allow(token, username);
      oauth2 = { introspectionUrl: ownIntrospection.url };
    }
    for (const sub of ['run', 'state', 'mail']) await fsp.mkdir(path.join(dir, sub));
    if (root) await fsp.chown(path.join(dir, 'mail'), mailUid, mailGid);
    const users = Object.entries(options.users).map(([name, password]) => {
      if (/[:\n]/.test(name) || /[:\n]/.test(password)) throw new Error(`user ${name}: ':' and newlines cannot be stored in a passwd-file`);
      return `${name}:{PLAIN}${password}::::::`;
    });
    await fsp.writeFile(path.join(dir, 'users'), `${users.join('\n')}\n`, { mode: 0o644 });
    if (oauth2) {
      await fsp.writeFile(
        path.join(dir, 'oauth2.conf'),
        [
          'introspection_mode = post',
          `introspection_url = ${oauth2.introspectionUrl}`,
          'force_introspection = yes',
          'username_attribute = username',
          'active_attribute = active',
          'active_value = true',
          '',
        ].join('\n'),
        { mode: 0o644 },
      );
    }
    await fsp.writeFile(confPath, config({ dir, ports, tls: tlsEnabled, cert: certs.cert, key: certs.key, mailUid, mailGid, oauth2 }));
  } catch (error) {
    await ownIntrospection?.stop();
    await fsp.rm(dir, { recursive: true, force: true });
    throw error;
  }

  let child: ChildProcess | null = null;
  let output = '';
  const killOnExit = (): void => {
    if (child?.pid) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.on('exit', killOnExit);

  const logText = (): string => {
    try {
      return fs.readFileSync(path.join(dir, 'dovecot.log'), 'utf8');
    } catch {
      return '';
    }
  };

  async function launch(): Promise<void> {
    output = '';
    // After kill() the old master may not be reaped yet; its pid file would make Dovecot refuse to start.
    await fsp.rm(path.join(dir, 'run', 'master.pid'), { force: true });
    // Its own process group, so kill() reaches the login, auth and mail processes too.
    const proc = spawn(DOVECOT, ['-F', '-c', confPath], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    proc.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const listening = tlsEnabled ? Object.values(ports) : [ports.imap, ports.pop3];
    const logStart = logText().length;
    let probes = 0;
    try {
      await waitFor(
        async () => {
          if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`exited (${proc.exitCode ?? proc.signalCode})`);
          const open = await Promise.all(listening.map(portOpen));
          probes += open.filter(Boolean).length;
          return open.every(Boolean);
        },
        15_000,
        'Dovecot to listen',
      );
    } catch (error) {
      await halt('SIGKILL');
      throw new Error(`Dovecot did not start: ${(error as Error).message}\n${output}\n${logText()}`, { cause: error });
    }
    // Each probe leaves a "Disconnected" line; once they are all written, tests can take a log
    // mark and know that what follows is theirs.
    const probeLines = (): number => (logText().slice(logStart).match(/Disconnected/g) ?? []).length;
    await waitFor(() => probeLines() >= probes, 3_000, 'the probe connections to be logged').catch(() => undefined);
  }

  async function halt(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const proc = child;
    if (!proc?.pid) return;
    const pgid = proc.pid;
    try {
      process.kill(-pgid, 'SIGCONT');
      // SIGTERM goes to the master only: it stops its children itself, and would wait for the
      // log process it needs if that were terminated alongside it.
      process.kill(signal === 'SIGTERM' ? pgid : -pgid, signal);
    } catch {
      // already gone
    }
    if (signal === 'SIGTERM') {
      // A clean stop takes about a second; processes that started moments earlier can hold the
      // master for five more (stats handshake), so the rest is killed.
      await waitFor(() => proc.exitCode !== null || proc.signalCode !== null, 1_500, 'Dovecot to stop').catch(() => undefined);
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // all gone
      }
    }
    await waitFor(() => !processGroupAlive(pgid), 10_000, 'Dovecot processes to exit');
    if (child === proc) child = null;
  }

  // kill(), restart() and stop() run one after another even when a test does not await kill()
  // (to crash the server in the middle of something): interleaved, a restart could be undone.
  let lifecycle: Promise<unknown> = Promise.resolve();
  const serially = (step: () => Promise<void>): Promise<void> => {
    const next = lifecycle.then(step);
    lifecycle = next.catch(() => undefined);
    return next;
  };

  const server: DovecotServer = {
    host: '127.0.0.1',
    ports,
    caPem: certs.caPem,
    dir,

    deliver(user, folder, raw) {
      const target = folderDir(dir, user, folder);
      for (const sub of ['', 'cur', 'new', 'tmp']) {
        const sd = path.join(target, sub);
        if (fs.existsSync(sd)) continue;
        fs.mkdirSync(sd, { recursive: true });
        if (root) {
          // The user's Maildir root may have been created just now as well.
          for (let d = sd; d.startsWith(path.join(dir, 'mail', user)); d = path.dirname(d)) fs.chownSync(d, mailUid, mailGid);
        }
      }
      const bytes = typeof raw === 'string' ? Buffer.from(raw) : raw;
      const name = maildirName(bytes.length);
      const tmp = path.join(target, 'tmp', name);
      fs.writeFileSync(tmp, bytes);
      if (root) fs.chownSync(tmp, mailUid, mailGid);
      // Written in tmp/ and renamed, so Dovecot never sees half a message.
      fs.renameSync(tmp, path.join(target, 'new', name));
      return name;
    },

    listFolder(user, folder) {
      const target = folderDir(dir, user, folder);
      // Dovecot may rename a file (new/ to cur/, new flags) while it is read; then read the folder again.
      for (let attempt = 0; ; attempt++) {
        try {
          const messages: MaildirMessage[] = [];
          for (const sub of ['new', 'cur']) {
            const subdir = path.join(target, sub);
            if (!fs.existsSync(subdir)) continue;
            for (const file of fs.readdirSync(subdir)) {
              const flags = file.includes(':2,') ? file.slice(file.indexOf(':2,') + 3) : '';
              messages.push({ file, flags, seen: flags.includes('S'), raw: fs.readFileSync(path.join(subdir, file)) });
            }
          }
          return messages.sort((a, b) => a.file.localeCompare(b.file));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 10) throw error;
        }
      }
    },

    resetUidValidity(user, folder) {
      const target = folderDir(dir, user, folder);
      for (const file of fs.readdirSync(target)) {
        if (file === 'dovecot-uidlist' || file.startsWith('dovecot.index')) fs.rmSync(path.join(target, file), { force: true });
      }
    },

    log: logText,

    async waitForLog(pattern, { since = 0, timeoutMs = 5_000 } = {}) {
      let line: string | undefined;
      await waitFor(
        () => {
          line = logText()
            .slice(since)
            .split('\n')
            .find((l) => pattern.test(l));
          return line !== undefined;
        },
        timeoutMs,
        `a Dovecot log line matching ${pattern}`,
      );
      return line!;
    },

    freeze() {
      if (child?.pid) process.kill(-child.pid, 'SIGSTOP');
    },

    thaw() {
      if (child?.pid) process.kill(-child.pid, 'SIGCONT');
    },

    kill: () => serially(() => halt('SIGKILL')),

    restart: () =>
      serially(async () => {
        await halt('SIGTERM');
        await launch();
      }),

    stop: () =>
      serially(async () => {
        // Everything goes with the directory, so there is nothing to shut down cleanly.
        await halt('SIGKILL');
        process.off('exit', killOnExit);
        await ownIntrospection?.stop();
        await fsp.rm(dir, { recursive: true, force: true });
      }),
  };

  await launch().catch(async (error: unknown) => {
    process.off('exit', killOnExit);
    await ownIntrospection?.stop();
    await fsp.rm(dir, { recursive: true, force: true });
    throw error;
  });
  return server;
}

/**
 * A TCP relay to a local port that records every byte the client sent, to prove what a client
 * did or did not write on the wire.
 */
export async function recordingProxy(targetPort: number): Promise<{ port: number; clientBytes(): Buffer; close(): Promise<void> }> {
  const received: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', (chunk: Buffer) => {
      received.push(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    clientBytes: () => Buffer.concat(received),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
